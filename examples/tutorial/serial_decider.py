# serial_decider.py
# ruff: noqa: UP031 -- the seed's %-formatting is kept line for line
import os
import time

import swfd
import swfd.actors as swf

ENDPOINT_URL = os.environ.get('SWFD_ENDPOINT_URL')  # None: Amazon SWF


class SerialDecider(swf.Decider):

    domain = 'boto_tutorial'
    task_list = 'default_tasks'
    version = '1.0'
    endpoint_url = ENDPOINT_URL

    def run(self):
        history = self.poll()
        if 'events' in history:
            # Get a list of non-decision events to see what event came in last.
            workflow_events = [e for e in history['events']
                               if not e['eventType'].startswith('Decision')]
            decisions = swfd.Decisions()
            # Record latest non-decision event.
            last_event = workflow_events[-1]
            last_event_type = last_event['eventType']
            if last_event_type == 'WorkflowExecutionStarted':
                # Schedule the first activity.
                decisions.schedule_activity_task('%s-%i' % ('ActivityA', time.time()),
                                                 'ActivityA', self.version, task_list='a_tasks')
            elif last_event_type == 'ActivityTaskCompleted':
                # Take decision based on the name of activity that has just completed.
                # 1) Get activity's event id.
                last_event_attrs = last_event['activityTaskCompletedEventAttributes']
                completed_activity_id = last_event_attrs['scheduledEventId'] - 1
                # 2) Extract its name.
                activity_data = history['events'][completed_activity_id]
                activity_attrs = activity_data['activityTaskScheduledEventAttributes']
                activity_name = activity_attrs['activityType']['name']
                # 3) Optionally, get the result from the activity.
                result = last_event['activityTaskCompletedEventAttributes'].get('result')

                # Take the decision.
                if activity_name == 'ActivityA':
                    decisions.schedule_activity_task('%s-%i' % ('ActivityB', time.time()),
                                                     'ActivityB', self.version,
                                                     task_list='b_tasks', input=result)
                if activity_name == 'ActivityB':
                    decisions.schedule_activity_task('%s-%i' % ('ActivityC', time.time()),
                                                     'ActivityC', self.version,
                                                     task_list='c_tasks', input=result)
                elif activity_name == 'ActivityC':
                    # Final activity completed. We're done.
                    decisions.complete_workflow_execution()

            self.complete(decisions=decisions)
            return True


if __name__ == '__main__':
    import _loop
    raise SystemExit(_loop.main({'SerialDecider': SerialDecider}))
