# parallel_decider.py
# ruff: noqa: UP031 -- the seed's %-formatting is kept line for line
import os

import swfd
import swfd.actors as swf

SCHED_COUNT = 5
ENDPOINT_URL = os.environ.get('SWFD_ENDPOINT_URL')  # None: Amazon SWF


class ParallelDecider(swf.Decider):

    domain = 'boto_tutorial'
    task_list = 'default'
    endpoint_url = ENDPOINT_URL

    def run(self):
        decision_task = self.poll()
        if 'events' in decision_task:
            decisions = swfd.Decisions()
            # Decision* events are irrelevant here and can be ignored.
            workflow_events = [e for e in decision_task['events']
                               if not e['eventType'].startswith('Decision')]
            # Record latest non-decision event.
            last_event = workflow_events[-1]
            last_event_type = last_event['eventType']
            if last_event_type == 'WorkflowExecutionStarted':
                # At start, kickoff SCHED_COUNT activities in parallel.
                for i in range(SCHED_COUNT):
                    decisions.schedule_activity_task('activity%i' % i, 'ActivityA', '1.0',
                                                     task_list=self.task_list)
            elif last_event_type == 'ActivityTaskCompleted':
                # Monitor progress. When all activities complete, complete workflow.
                completed_count = sum([1 for a in decision_task['events']
                                       if a['eventType'] == 'ActivityTaskCompleted'])
                print('%i/%i' % (completed_count, SCHED_COUNT), flush=True)
                if completed_count == SCHED_COUNT:
                    decisions.complete_workflow_execution()
            self.complete(decisions=decisions)
            return True


if __name__ == '__main__':
    import _loop
    raise SystemExit(_loop.main({'ParallelDecider': ParallelDecider}))
