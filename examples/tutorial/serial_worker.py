# serial_worker.py
# ruff: noqa: UP031 -- the seed's %-formatting is kept line for line
import os
import time

import swfd.actors as swf

ENDPOINT_URL = os.environ.get('SWFD_ENDPOINT_URL')  # None: Amazon SWF


class MyBaseWorker(swf.ActivityWorker):

    domain = 'boto_tutorial'
    version = '1.0'
    task_list = None
    endpoint_url = ENDPOINT_URL

    def run(self):
        activity_task = self.poll()
        if 'activityId' in activity_task:
            # Get input.
            # Get the method for the requested activity.
            try:
                print('working on activity from tasklist %s at %i' % (self.task_list,
                                                                        time.time()), flush=True)
                self.activity(activity_task.get('input'))
            except Exception as error:
                self.fail(reason=str(error))
                raise

            return True

    def activity(self, activity_input):
        raise NotImplementedError


class WorkerA(MyBaseWorker):
    task_list = 'a_tasks'

    def activity(self, activity_input):
        self.complete(result="Now don't be givin him sambuca!")


class WorkerB(MyBaseWorker):
    task_list = 'b_tasks'

    def activity(self, activity_input):
        self.complete()


class WorkerC(MyBaseWorker):
    task_list = 'c_tasks'

    def activity(self, activity_input):
        self.complete()


if __name__ == '__main__':
    import _loop
    raise SystemExit(_loop.main({'WorkerA': WorkerA, 'WorkerB': WorkerB, 'WorkerC': WorkerC}))
