# hello_decider.py
import os

import swfd
import swfd.actors as swf

DOMAIN = 'boto_tutorial'
ACTIVITY = 'HelloWorld'
VERSION = '1.0'
TASKLIST = 'default'
ENDPOINT_URL = os.environ.get('SWFD_ENDPOINT_URL')  # None: Amazon SWF


class HelloDecider(swf.Decider):

    domain = DOMAIN
    task_list = TASKLIST
    version = VERSION
    endpoint_url = ENDPOINT_URL

    def run(self):
        history = self.poll()
        if 'events' in history:
            # Find workflow events not related to decision scheduling.
            workflow_events = [e for e in history['events']
                               if not e['eventType'].startswith('Decision')]
            last_event = workflow_events[-1]

            decisions = swfd.Decisions()
            if last_event['eventType'] == 'WorkflowExecutionStarted':
                decisions.schedule_activity_task('saying_hi', ACTIVITY, VERSION,
                                                 task_list=TASKLIST)
            elif last_event['eventType'] == 'ActivityTaskCompleted':
                decisions.complete_workflow_execution()
            self.complete(decisions=decisions)
            return True


if __name__ == '__main__':
    import _loop
    raise SystemExit(_loop.main({'HelloDecider': HelloDecider}))
