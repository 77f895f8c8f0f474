"""register.py: the seed tutorial's registration script, on boto3.

Registers the domain and the tutorial's workflow and activity types. The
defaults are the ones boto's layer2 ``register()`` filled in (domain retention
30 days; timeouts 3600/300 for workflows, 600/3900/300/3600 for activities), so
executions get the timeouts of the seed's HelloWorld history.

    SWFD_ENDPOINT_URL=http://127.0.0.1:8799 python register.py   # unset: Amazon SWF
"""

import os

import swfd.actors

DOMAIN = 'boto_tutorial'
VERSION = '1.0'
ENDPOINT_URL = os.environ.get('SWFD_ENDPOINT_URL')  # None: Amazon SWF

swf = swfd.actors.connect(ENDPOINT_URL)


class Registerable:
    """What boto's layer2 Domain/WorkflowType/ActivityType offered here: a name and register()."""

    def __init__(self, name, operation, **params):
        self.name = name
        self.operation = operation
        self.params = params

    def register(self):
        getattr(swf, self.operation)(name=self.name, **self.params)


class Domain(Registerable):
    def __init__(self, name, retention='30'):
        super().__init__(name, 'register_domain', workflowExecutionRetentionPeriodInDays=retention)


class WorkflowType(Registerable):
    def __init__(self, domain, name, version, task_list):
        super().__init__(
            name, 'register_workflow_type', domain=domain, version=version,
            defaultTaskList={'name': task_list}, defaultExecutionStartToCloseTimeout='3600',
            defaultTaskStartToCloseTimeout='300', defaultChildPolicy='TERMINATE')


class ActivityType(Registerable):
    def __init__(self, domain, name, version, task_list):
        super().__init__(
            name, 'register_activity_type', domain=domain, version=version,
            defaultTaskList={'name': task_list}, defaultTaskHeartbeatTimeout='600',
            defaultTaskScheduleToCloseTimeout='3900', defaultTaskScheduleToStartTimeout='300',
            defaultTaskStartToCloseTimeout='3600')


registerables = []
registerables.append(Domain(name=DOMAIN))
for workflow_type in ('HelloWorkflow', 'SerialWorkflow', 'ParallelWorkflow'):
    registerables.append(WorkflowType(domain=DOMAIN, name=workflow_type, version=VERSION,
                                      task_list='default'))

for activity_type in ('HelloWorld', 'ActivityA', 'ActivityB', 'ActivityC'):
    registerables.append(ActivityType(domain=DOMAIN, name=activity_type, version=VERSION,
                                      task_list='default'))

for swf_entity in registerables:
    try:
        swf_entity.register()
        print(swf_entity.name, 'registered successfully')
    except (swf.exceptions.DomainAlreadyExistsFault, swf.exceptions.TypeAlreadyExistsFault):
        print(swf_entity.__class__.__name__, swf_entity.name, 'already exists')
