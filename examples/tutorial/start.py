"""start.py: start a tutorial workflow, as the seed did from the Python prompt.

    python start.py HelloWorkflow | SerialWorkflow | ParallelWorkflow

The seed ran ``swf.WorkflowType(name=..., domain='boto_tutorial', version='1.0',
task_list=...).start()``; boto's layer2 named the execution
``<name>-<version>-<unix time>``. This prints the workflow id and run id.
"""

import os
import sys
import time

import swfd.actors

DOMAIN = 'boto_tutorial'
VERSION = '1.0'
ENDPOINT_URL = os.environ.get('SWFD_ENDPOINT_URL')  # None: Amazon SWF
TASK_LISTS = {'HelloWorkflow': 'default', 'SerialWorkflow': 'default_tasks',
              'ParallelWorkflow': 'default'}


def start(name, task_list, workflow_id=None):
    if workflow_id is None:
        workflow_id = f'{name}-{VERSION}-{int(time.time())}'
    swf = swfd.actors.connect(ENDPOINT_URL)
    run_id = swf.start_workflow_execution(
        domain=DOMAIN, workflowId=workflow_id, workflowType={'name': name, 'version': VERSION},
        taskList={'name': task_list}, childPolicy='TERMINATE')['runId']
    return workflow_id, run_id


if __name__ == '__main__':
    if len(sys.argv) not in (2, 3) or sys.argv[1] not in TASK_LISTS:
        sys.exit(f"usage: start.py {{{'|'.join(TASK_LISTS)}}} [WORKFLOW_ID]")
    print(*start(sys.argv[1], TASK_LISTS[sys.argv[1]], *sys.argv[2:]))
