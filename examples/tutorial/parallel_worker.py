# parallel_worker.py
import os
import time

import swfd.actors as swf

ENDPOINT_URL = os.environ.get('SWFD_ENDPOINT_URL')  # None: Amazon SWF


class ParallelWorker(swf.ActivityWorker):

    domain = 'boto_tutorial'
    task_list = 'default'
    endpoint_url = ENDPOINT_URL

    def run(self):
        """Report current time."""
        activity_task = self.poll()
        if 'activityId' in activity_task:
            print('working on', activity_task['activityId'], flush=True)
            self.complete(result=str(time.time()))
            return True


if __name__ == '__main__':
    import _loop
    raise SystemExit(_loop.main({'ParallelWorker': ParallelWorker}))
