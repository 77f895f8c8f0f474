# hello_worker.py
import os

import swfd.actors as swf

DOMAIN = 'boto_tutorial'
VERSION = '1.0'
TASKLIST = 'default'
ENDPOINT_URL = os.environ.get('SWFD_ENDPOINT_URL')  # None: Amazon SWF


class HelloWorker(swf.ActivityWorker):

    domain = DOMAIN
    version = VERSION
    task_list = TASKLIST
    endpoint_url = ENDPOINT_URL

    def run(self):
        activity_task = self.poll()
        if 'activityId' in activity_task:
            print('Hello, World!', flush=True)
            self.complete()
            return True


if __name__ == '__main__':
    import _loop
    raise SystemExit(_loop.main({'HelloWorker': HelloWorker}))
