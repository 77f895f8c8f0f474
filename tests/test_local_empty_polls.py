# The seed's code below is kept as written: its %-formatting and re-raise stay.
# ruff: noqa: UP031, TRY201
"""Empty polls answer as the service does, and the clients written for the service run
clean through them.

The seeds' tutorial deciders and workers, as written (Python 3 prints aside),
run against plain boto3 through a thin layer2-style shim that hands them the
raw response, as boto's layer2 did; AWS's published sample decider and
worker pattern too. With the old ``"taskToken": ""`` / ``"events": []`` answer
both crashed with IndexError on every empty poll. swfd's own pollers accept
both forms (absent and empty token), for endpoints that still send ``""``.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from conftest import make_boto3_client
from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    TUTORIAL_DOMAIN,
    event_types,
    history,
    is_closed,
    no_internal_failures,
    register_tutorial,
)

from swfd.local.server import LocalEndpoint

CLIENT = None  # the shim's connection (layer2 kept one per process as well)


@pytest.fixture
def tutorial_client(tmp_path):
    """A short long poll: these tests are about what the empty answer looks like."""
    global CLIENT
    endpoint = LocalEndpoint(database=str(tmp_path / "swf.sqlite3"), poll_timeout=0.2).start()
    CLIENT = make_boto3_client(endpoint.url)
    register_tutorial(CLIENT)
    try:
        yield CLIENT
    finally:
        CLIENT = None
        endpoint.stop()


# -- a layer2-style shim (boto.swf.layer2: Decider, ActivityWorker, Layer1Decisions) -------


class _Actor:
    domain = None
    task_list = None
    version = None

    def __init__(self) -> None:
        self.last_tasktoken = None


class Decider(_Actor):
    def poll(self, **kwargs):
        response = CLIENT.poll_for_decision_task(domain=self.domain,
                                                 taskList={"name": self.task_list}, **kwargs)
        self.last_tasktoken = response.get("taskToken")
        return response  # raw, as layer2 returned layer1's JSON

    def complete(self, decisions=None, **kwargs):
        CLIENT.respond_decision_task_completed(taskToken=self.last_tasktoken,
                                               decisions=decisions._data if decisions else [])


class ActivityWorker(_Actor):
    def poll(self, **kwargs):
        response = CLIENT.poll_for_activity_task(domain=self.domain,
                                                 taskList={"name": self.task_list}, **kwargs)
        self.last_tasktoken = response.get("taskToken")
        return response

    def complete(self, result=None):
        params = {"result": result} if result is not None else {}
        CLIENT.respond_activity_task_completed(taskToken=self.last_tasktoken, **params)

    def fail(self, reason=None):
        CLIENT.respond_activity_task_failed(taskToken=self.last_tasktoken, reason=reason)


class Layer1Decisions:
    def __init__(self) -> None:
        self._data = []

    def schedule_activity_task(self, activity_id, activity_type_name, activity_type_version,
                               task_list=None, input=None):
        attrs = {"activityId": activity_id,
                 "activityType": {"name": activity_type_name, "version": activity_type_version}}
        if task_list:
            attrs["taskList"] = {"name": task_list}
        if input is not None:
            attrs["input"] = input
        self._data.append({"decisionType": "ScheduleActivityTask",
                           "scheduleActivityTaskDecisionAttributes": attrs})

    def complete_workflow_execution(self, result=None):
        attrs = {"result": result} if result is not None else {}
        self._data.append({"decisionType": "CompleteWorkflowExecution",
                           "completeWorkflowExecutionDecisionAttributes": attrs})


swf = SimpleNamespace(Decider=Decider, ActivityWorker=ActivityWorker,
                      Layer1Decisions=Layer1Decisions)  # the seeds' "import ... as swf"

# -- the seed's code (seeds/001), as written -------------------------------------------------

DOMAIN = 'boto_tutorial'
ACTIVITY = 'HelloWorld'
VERSION = '1.0'
TASKLIST = 'default'


class HelloDecider(swf.Decider):

    domain = DOMAIN
    task_list = TASKLIST
    version = VERSION

    def run(self):
        history = self.poll()
        if 'events' in history:
            # Find workflow events not related to decision scheduling.
            workflow_events = [e for e in history['events']
                               if not e['eventType'].startswith('Decision')]
            last_event = workflow_events[-1]

            decisions = swf.Layer1Decisions()
            if last_event['eventType'] == 'WorkflowExecutionStarted':
                decisions.schedule_activity_task('saying_hi', ACTIVITY, VERSION, task_list=TASKLIST)
            elif last_event['eventType'] == 'ActivityTaskCompleted':
                decisions.complete_workflow_execution()
            self.complete(decisions=decisions)
            return True


class HelloWorker(swf.ActivityWorker):

    domain = DOMAIN
    version = VERSION
    task_list = TASKLIST

    def run(self):
        activity_task = self.poll()
        if 'activityId' in activity_task:
            print('Hello, World!')
            self.complete()
            return True


class SerialDecider(swf.Decider):

    domain = 'boto_tutorial'
    task_list = 'default_tasks'
    version = '1.0'

    def run(self):
        history = self.poll()
        if 'events' in history:
            # Get a list of non-decision events to see what event came in last.
            workflow_events = [e for e in history['events']
                               if not e['eventType'].startswith('Decision')]
            decisions = swf.Layer1Decisions()
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
                        'ActivityB', self.version, task_list='b_tasks', input=result)
                if activity_name == 'ActivityB':
                    decisions.schedule_activity_task('%s-%i' % ('ActivityC', time.time()),
                        'ActivityC', self.version, task_list='c_tasks', input=result)
                elif activity_name == 'ActivityC':
                    # Final activity completed. We're done.
                    decisions.complete_workflow_execution()

            self.complete(decisions=decisions)
            return True


class MyBaseWorker(swf.ActivityWorker):

    domain = 'boto_tutorial'
    version = '1.0'
    task_list = None

    def run(self):
        activity_task = self.poll()
        if 'activityId' in activity_task:
            # Get input.
            # Get the method for the requested activity.
            try:
                print('working on activity from tasklist %s at %i' % (self.task_list, time.time()))
                self.activity(activity_task.get('input'))
            except Exception as error:
                self.fail(reason=str(error))
                raise error

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


SCHED_COUNT = 5


class ParallelDecider(swf.Decider):

    domain = 'boto_tutorial'
    task_list = 'default'
    def run(self):
        decision_task = self.poll()
        if 'events' in decision_task:
            decisions = swf.Layer1Decisions()
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
                print('%i/%i' % (completed_count, SCHED_COUNT))
                if completed_count == SCHED_COUNT:
                    decisions.complete_workflow_execution()
            self.complete(decisions=decisions)
            return True


class ParallelWorker(swf.ActivityWorker):

    domain = 'boto_tutorial'
    task_list = 'default'

    def run(self):
        """Report current time."""
        activity_task = self.poll()
        if 'activityId' in activity_task:
            print('working on', activity_task['activityId'])
            self.complete(result=str(time.time()))
            return True


# -- running them -----------------------------------------------------------------------------


def _start(client, name, task_list) -> dict:
    workflow_id = f"{name}-{time.time_ns()}"
    run = client.start_workflow_execution(domain=TUTORIAL_DOMAIN, workflowId=workflow_id,
                                          workflowType={"name": name, "version": "1.0"},
                                          taskList={"name": task_list})
    return {"workflowId": workflow_id, "runId": run["runId"]}


def _until_closed(client, execution, actors, rounds=60) -> str:
    """Each round, every actor runs once (an idle one sees an empty poll); bounded."""
    for _ in range(rounds):
        status = is_closed(client, TUTORIAL_DOMAIN, execution)
        if status:
            return status
        for actor in actors:
            actor().run()
    raise AssertionError(f"{execution['workflowId']} still open after {rounds} rounds")


@pytest.mark.usefixtures("tutorial_client")
def test_every_seed_actor_survives_an_empty_poll():
    for actor in (HelloDecider, HelloWorker, SerialDecider, WorkerA, WorkerB, WorkerC,
                  ParallelDecider, ParallelWorker):
        assert actor().run() is None  # the seed's loop ends; it does not crash


def test_seed_hello_world_runs_through_empty_polls(tutorial_client):
    client = tutorial_client
    execution = _start(client, "HelloWorkflow", "default")
    assert _until_closed(client, execution, [HelloWorker, HelloDecider]) == "COMPLETED"
    assert event_types(history(client, TUTORIAL_DOMAIN, execution))[-1] == \
        "WorkflowExecutionCompleted"


def test_seed_serial_workflow_runs_through_empty_polls(tutorial_client):
    client = tutorial_client
    execution = _start(client, "SerialWorkflow", "default_tasks")
    actors = [WorkerC, WorkerB, WorkerA, SerialDecider]
    assert _until_closed(client, execution, actors) == "COMPLETED"
    events = history(client, TUTORIAL_DOMAIN, execution)
    assert event_types(events).count("ActivityTaskCompleted") == 3


def test_seed_parallel_workflow_runs_through_empty_polls(tutorial_client):
    client = tutorial_client
    execution = _start(client, "ParallelWorkflow", "default")
    actors = [ParallelWorker, ParallelWorker, ParallelDecider]
    assert _until_closed(client, execution, actors, rounds=100) == "COMPLETED"


def test_aws_sample_decider_and_worker_pattern_runs_through_empty_polls(tutorial_client):
    """The pattern of AWS's published Python sample (``if 'taskToken' not in newTask``)."""
    client = tutorial_client
    repolls = []

    def decider_round() -> None:
        newTask = client.poll_for_decision_task(domain=TUTORIAL_DOMAIN,
                                             taskList={"name": TASKLIST},
                                             identity="decider-1", reverseOrder=False)
        if 'taskToken' not in newTask:
            repolls.append("decider")  # "Poll timed out, no new task.  Repoll"
        elif 'events' in newTask:
            eventHistory = [evt for evt in newTask['events']
                            if not evt['eventType'].startswith('Decision')]
            lastEvent = eventHistory[-1]
            if lastEvent['eventType'] == 'WorkflowExecutionStarted':
                client.respond_decision_task_completed(taskToken=newTask['taskToken'], decisions=[{
                    'decisionType': 'ScheduleActivityTask',
                    'scheduleActivityTaskDecisionAttributes': {
                        'activityType': {'name': ACTIVITY, 'version': VERSION},
                        'activityId': 'activityid-' + str(time.time_ns()),
                        'taskList': {'name': TASKLIST}}}])
            elif lastEvent['eventType'] == 'ActivityTaskCompleted':
                client.respond_decision_task_completed(taskToken=newTask['taskToken'], decisions=[{
                    'decisionType': 'CompleteWorkflowExecution',
                    'completeWorkflowExecutionDecisionAttributes': {'result': 'success'}}])

    def worker_round() -> None:
        task = client.poll_for_activity_task(domain=TUTORIAL_DOMAIN,
                                          taskList={'name': TASKLIST}, identity='worker-1')
        if 'taskToken' not in task:
            repolls.append("worker")
        else:
            client.respond_activity_task_completed(taskToken=task['taskToken'], result='success')

    decider_round()
    worker_round()
    assert repolls == ["decider", "worker"]
    execution = _start(client, "HelloWorkflow", TASKLIST)
    for _ in range(20):
        if is_closed(client, TUTORIAL_DOMAIN, execution):
            break
        worker_round()
        decider_round()
    assert is_closed(client, TUTORIAL_DOMAIN, execution) == "COMPLETED"


# -- swfd's own pollers: an absent and an empty token are both "no task" -------------------


class StandIn:
    """An engine that answers every poll with the same empty body."""

    def __init__(self, answers: dict) -> None:
        self.answers = answers

    def call(self, operation, params, **context):
        return self.answers[operation]

    def close(self) -> None:
        pass


@pytest.mark.parametrize("form", ["absent", "empty"])
def test_swfd_pollers_take_both_forms_as_no_task(form):
    from swfd.decider import DecisionPoller
    from swfd.worker import ActivityPoller

    empty_token = {} if form == "absent" else {"taskToken": ""}
    answers = {
        "PollForActivityTask": {**empty_token, "startedEventId": 0},
        "PollForDecisionTask": {**empty_token, "startedEventId": 0,
                                "previousStartedEventId": 0,
                                **({"events": []} if form == "empty" else {})},
    }
    endpoint = LocalEndpoint(engine=StandIn(answers)).start()
    try:
        client = make_boto3_client(endpoint.url, read_timeout=10)
        settings = SimpleNamespace(domain="d")
        pool = SimpleNamespace(task_list="t")
        assert ActivityPoller(settings, pool, None, None, client, "w").poll() is None
        assert DecisionPoller(settings, pool, None, None, client, "d").poll() is None
    finally:
        endpoint.stop()
