"""Never a 500: every operation, with bodies generated from botocore's model (complete,
minimal, wrong-typed, oversized members), answers 200 or a 4xx SWF error.

Bodies go over raw HTTP, past botocore's client-side validation, to the real
engine; the autouse fixture also fails the test if the endpoint logged an error.
"""

from __future__ import annotations

import http.client
import json

import botocore.session
from test_local_support import (  # noqa: F401 (no_internal_failures is autouse)
    no_internal_failures,
    register_activity_type,
    register_workflow_type,
    start,
)

DOMAIN_VALUE = "fuzz"


def _value(shape, depth: int = 0, member: str = ""):
    """A plausible value for a shape (all members of structures, one list item)."""
    kind = shape.type_name
    if kind == "structure":
        return {
            name: _value(sub, depth + 1, name)
            for name, sub in shape.members.items()
            if depth < 4 or name in shape.required_members
        }
    if kind == "list":
        return [_value(shape.member, depth + 1, member)]
    if kind == "string":
        if shape.enum:
            return shape.enum[0]
        if shape.name.startswith("Duration"):
            return "1"
        if shape.name == "TaskPriority":
            return "1"
        if member == "domain" or shape.name == "DomainName":
            return DOMAIN_VALUE
        if member == "version":
            return "1.0"
        if member == "name" and shape.name in ("Name", "FunctionName"):
            return "W"
        return "x"
    if kind in ("integer", "long"):
        return max(shape.metadata.get("min", 1), 1)
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return 0
    raise AssertionError(kind)


def _minimal(shape):
    return {name: _value(shape.members[name], 5, name) for name in shape.required_members}


def _wrong(value):
    return 12345 if isinstance(value, str) else "not-the-right-type"


def _bodies(shape):
    full = _value(shape)
    yield full
    yield _minimal(shape)
    for name in shape.members:
        broken = dict(full)
        broken[name] = _wrong(full.get(name))
        yield broken
        if isinstance(full.get(name), str):
            yield {**full, name: "y" * 300}
            yield {**full, name: "z" * 40000}
        yield {key: value for key, value in full.items() if key != name}


def test_no_operation_answers_500(swf_client, local_endpoint):
    swf_client.register_domain(name=DOMAIN_VALUE, workflowExecutionRetentionPeriodInDays="1")
    register_workflow_type(swf_client, DOMAIN_VALUE, "W", version="1.0", task_list="x")
    register_activity_type(swf_client, DOMAIN_VALUE, "W", version="1.0", task_list="x")
    start(swf_client, DOMAIN_VALUE, "W")
    model = botocore.session.get_session().get_service_model("swf")
    conn = http.client.HTTPConnection("127.0.0.1", local_endpoint.port, timeout=10)
    statuses: dict[int, int] = {}
    sent = 0
    for operation in model.operation_names:
        if operation.startswith("PollFor"):
            continue  # long polls: covered elsewhere; here they would wait poll_timeout each
        shape = model.operation_model(operation).input_shape
        for body in _bodies(shape):
            conn.request(
                "POST",
                "/",
                body=json.dumps(body),
                headers={"X-Amz-Target": f"SimpleWorkflowService.{operation}"},
            )
            response = conn.getresponse()
            payload = response.read()
            sent += 1
            statuses[response.status] = statuses.get(response.status, 0) + 1
            assert response.status in (200, 400), (operation, body, payload[:300])
            if response.status == 400:
                code = json.loads(payload)["__type"].rsplit("#", 1)[1]
                assert code != "InternalFailure", (operation, payload[:300])
    conn.close()
    assert sent > 500 and statuses.get(200) and statuses.get(400)


def test_every_decision_type_with_every_attribute(swf_client, local_endpoint):
    """Each decision type, all its attributes set (values from the model), in a real task."""
    swf_client.register_domain(name=DOMAIN_VALUE, workflowExecutionRetentionPeriodInDays="1")
    register_workflow_type(swf_client, DOMAIN_VALUE, "W", version="1.0", task_list="x")
    register_activity_type(swf_client, DOMAIN_VALUE, "W", version="1.0", task_list="x")
    model = botocore.session.get_session().get_service_model("swf")
    decision_shape = model.shape_for("Decision")
    conn = http.client.HTTPConnection("127.0.0.1", local_endpoint.port, timeout=10)
    answers = {}
    for kind in decision_shape.members["decisionType"].enum:
        key = kind[0].lower() + kind[1:] + "DecisionAttributes"
        attrs = _value(decision_shape.members[key])
        start(swf_client, DOMAIN_VALUE, "W", taskList={"name": "d"})
        task = swf_client.poll_for_decision_task(domain=DOMAIN_VALUE, taskList={"name": "d"})
        body = {"taskToken": task["taskToken"], "decisions": [{"decisionType": kind, key: attrs}]}
        conn.request(
            "POST",
            "/",
            body=json.dumps(body),
            headers={"X-Amz-Target": "SimpleWorkflowService.RespondDecisionTaskCompleted"},
        )
        response = conn.getresponse()
        payload = response.read()
        answers[kind] = (response.status, payload[:200])
    conn.close()
    assert {kind: status for kind, (status, _) in answers.items()} == {
        kind: 200 for kind in answers
    }, answers


def test_random_operation_sequences_never_500(tmp_path):
    """A seeded random walk over every operation, reusing real task tokens and run ids."""
    import random
    import time

    from swfd.local.server import LocalEndpoint

    rnd = random.Random(20261123)
    model = botocore.session.get_session().get_service_model("swf")
    endpoint = LocalEndpoint(database=str(tmp_path / "walk.sqlite3"), poll_timeout=0.05).start()
    conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    tokens: list[str] = []
    runs: list[tuple[str, str]] = []

    def call(operation: str, body: dict) -> tuple[int, bytes]:
        conn.request(
            "POST",
            "/",
            body=json.dumps(body),
            headers={"X-Amz-Target": f"SimpleWorkflowService.{operation}"},
        )
        response = conn.getresponse()
        return response.status, response.read()

    def value(shape, member: str = ""):
        kind = shape.type_name
        if kind == "structure":
            return {
                name: value(sub, name)
                for name, sub in shape.members.items()
                if name in shape.required_members or rnd.random() < 0.5
            }
        if kind == "list":
            return [value(shape.member, member) for _ in range(rnd.randint(0, 3))]
        if kind == "string":
            if shape.enum:
                return rnd.choice(shape.enum)
            if member == "taskToken" and tokens:
                return rnd.choice(tokens)
            if member == "runId" and runs:
                return rnd.choice(runs)[1]
            if member == "workflowId" and runs and rnd.random() < 0.7:
                return rnd.choice(runs)[0]
            if shape.name.startswith("Duration"):
                return rnd.choice(["0", "1", "2", "NONE", "3600"])
            if shape.name == "TaskPriority":
                return str(rnd.randint(-5, 5))
            if member == "domain":
                return "d"
            if member == "version":
                return "1.0"
            return rnd.choice(["d", "W", "A", "x", "t1", "1.0", "0", "1"])
        if kind in ("integer", "long"):
            return rnd.randint(0, 5)
        if kind == "boolean":
            return rnd.random() < 0.5
        return rnd.choice([0, time.time(), time.time() + 100])  # timestamp

    try:
        call("RegisterDomain", {"name": "d", "workflowExecutionRetentionPeriodInDays": "1"})
        for name in ("W", "A", "x"):
            call(
                "RegisterWorkflowType",
                {
                    "domain": "d",
                    "name": name,
                    "version": "1.0",
                    "defaultTaskList": {"name": "x"},
                    "defaultExecutionStartToCloseTimeout": "5",
                    "defaultTaskStartToCloseTimeout": "2",
                    "defaultChildPolicy": "TERMINATE",
                },
            )
            call(
                "RegisterActivityType",
                {
                    "domain": "d",
                    "name": name,
                    "version": "1.0",
                    "defaultTaskList": {"name": "x"},
                    "defaultTaskHeartbeatTimeout": "2",
                    "defaultTaskScheduleToCloseTimeout": "5",
                    "defaultTaskScheduleToStartTimeout": "3",
                    "defaultTaskStartToCloseTimeout": "3",
                },
            )
        skip = {
            "RegisterDomain",
            "DeprecateDomain",
            "DeleteWorkflowType",
            "DeleteActivityType",
            "DeprecateWorkflowType",
            "DeprecateActivityType",
        }
        operations = [op for op in model.operation_names if op not in skip]
        weights = [
            {
                "StartWorkflowExecution": 5,
                "PollForDecisionTask": 6,
                "PollForActivityTask": 6,
                "RespondDecisionTaskCompleted": 8,
                "RespondActivityTaskCompleted": 3,
            }.get(op, 1)
            for op in operations
        ]
        statuses: dict[int, int] = {}
        deadline = time.monotonic() + 4
        for _ in range(3000):
            if time.monotonic() > deadline:
                break
            operation = rnd.choices(operations, weights=weights)[0]
            body = value(model.operation_model(operation).input_shape)
            if operation == "StartWorkflowExecution":
                body["workflowType"] = {"name": rnd.choice(["W", "A", "x"]), "version": "1.0"}
            status, payload = call(operation, body)
            statuses[status] = statuses.get(status, 0) + 1
            assert status in (200, 400), (operation, body, payload[:300])
            if status == 200 and operation.startswith("PollFor"):
                token = json.loads(payload).get("taskToken")
                if token:
                    tokens[:] = [*tokens[-29:], token]
            if status == 200 and operation == "StartWorkflowExecution":
                runs.append((body["workflowId"], json.loads(payload)["runId"]))
    finally:
        conn.close()
        endpoint.stop()
    assert statuses.get(200, 0) > 100 and statuses.get(400, 0) > 100
