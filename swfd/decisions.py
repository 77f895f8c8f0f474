"""Build the ``decisions=`` list of RespondDecisionTaskCompleted, checked before it is sent.

:class:`Decisions` is boto's ``Layer1Decisions`` on boto3: the same method
names, argument order and defaults, one method per decision type of botocore's
SWF model. Each decision is checked against the model's lengths, enums and list
sizes when it is added, so a decider learns which decision and which field is
wrong at the line that built it, not from a 400 for the whole batch later.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any, Union

from swfd import codecs
from swfd.codecs import swf_length
from swfd.errors import CodecError

#: Seconds as an int, or a string SWF takes as is ("NONE" where allowed).
Duration = Union[int, str, None]

#: Decision types that close the execution: SWF rejects a batch where one is not last.
CLOSE_DECISIONS = frozenset(
    {
        "CompleteWorkflowExecution",
        "FailWorkflowExecution",
        "CancelWorkflowExecution",
        "ContinueAsNewWorkflowExecution",
    }
)

# SWF's rule for ids and task list names (API reference): no leading or trailing
# whitespace, no ':', '/', '|' or control characters, and not the literal "arn".
_FORBIDDEN_CHARS = re.compile(r"[:/|\x00-\x1f\x7f-\x9f]")
_IDENTIFIER_FIELDS = frozenset({"activityId", "timerId", "workflowId", "taskList.name"})
_TASK_PRIORITY_RANGE = (-(2**31), 2**31 - 1)

#: Fields that carry a workflow's data; errors never quote their values (logs hold no payloads).
PAYLOAD_FIELDS = frozenset({"input", "result", "details", "control", "executionContext"})
# Payloads a plugin may give as Python values (encoded as JSON); control and
# execution context stay strings the decider reads back itself.
_JSON_PAYLOADS = frozenset({"input", "result", "details"})

#: SWF's request size quota; the decisions are most of a RespondDecisionTaskCompleted body.
MAX_REQUEST_BYTES = 1024 * 1024


class DecisionError(ValueError):
    """A decision that SWF would reject; names the decision (index, type) and the field."""

    def __init__(self, index: int, decision_type: str, field: str | None, problem: str):
        self.index = index
        self.decision_type = decision_type
        self.field = field
        self.problem = problem
        where = f"decision {index} ({decision_type})"
        if field:
            where += f", field {field}"
        super().__init__(f"{where}: {problem}")


@functools.lru_cache(maxsize=1)
def _decision_shapes() -> dict[str, Any]:
    """Attribute shapes by decision type, read from botocore's SWF model once per process."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("swf")
    decision = model.shape_for("Decision")
    shapes = {}
    for member_name, shape in decision.members.items():
        if member_name == "decisionType":
            continue
        decision_type = member_name[0].upper() + member_name[1 : -len("DecisionAttributes")]
        shapes[decision_type] = (member_name, shape)
    return shapes


def load_model() -> None:
    """Load the model now (the master calls this before forking so children share it)."""
    _decision_shapes()


def _problems(value: Any, shape: Any, path: str) -> Iterator[tuple[str, str]]:
    """Yield (field path, problem) for every way ``value`` breaks ``shape``'s constraints."""
    meta = shape.metadata
    kind = shape.type_name
    if kind == "string":
        if not isinstance(value, str):
            # A payload's value may be secret and end up in a log line: name its type only.
            shown = "" if path.rpartition(".")[2] in PAYLOAD_FIELDS else f" {value!r:.60}"
            yield path, f"expected a string, got {type(value).__name__}{shown}"
            return
        length = swf_length(value)  # UTF-16 code units, as SWF counts
        if "min" in meta and length < meta["min"]:
            yield path, f"length {length} is below the minimum {meta['min']}"
        if "max" in meta and length > meta["max"]:
            yield path, f"length {length} exceeds the maximum {meta['max']}"
        if "enum" in meta and value not in meta["enum"]:
            yield path, f"{value!r} is not one of {', '.join(meta['enum'])}"
    elif kind == "structure":
        if not isinstance(value, dict):
            yield path, f"expected a mapping, got {type(value).__name__}"
            return
        for name in shape.required_members:
            if value.get(name) is None:
                yield _join(path, name), "is required"
        for name, item in value.items():
            if name not in shape.members:
                yield _join(path, name), "is not a field of this decision"
            elif item is not None:
                yield from _problems(item, shape.members[name], _join(path, name))
    elif kind == "list":
        if not isinstance(value, (list, tuple)):
            yield path, f"expected a list, got {type(value).__name__}"
            return
        if "max" in meta and len(value) > meta["max"]:
            yield path, f"{len(value)} items exceed the maximum {meta['max']}"
        if "min" in meta and len(value) < meta["min"]:
            yield path, f"{len(value)} items are below the minimum {meta['min']}"
        for i, item in enumerate(value):
            yield from _problems(item, shape.member, f"{path}[{i}]")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _identifier_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return None  # reported by the type check
    if value != value.strip():
        return "must not start or end with whitespace"
    if _FORBIDDEN_CHARS.search(value):
        return "must not contain ':', '/', '|' or control characters"
    if value == "arn":
        return "must not be the literal string 'arn'"
    return None


class Decisions:
    """An ordered batch of decisions for one decision task (boto's ``Layer1Decisions``).

    Every method appends one decision and raises :class:`DecisionError` at once
    if SWF would refuse it. Durations take int seconds or ``"NONE"``; they are
    sent as strings. Payloads (``input``, ``result``, ``details``) are sent
    unchanged when they are strings (as the seed and plain clients use them);
    any other value is encoded as JSON here, swfd's default codec, so a
    json-codec workflow can pass Python values straight through. ``.data`` is
    what boto3's ``respond_decision_task_completed`` takes as ``decisions=``.
    """

    def __init__(self) -> None:
        self._data: list[dict[str, Any]] = []

    @property
    def data(self) -> list[dict[str, Any]]:
        """The decisions as boto3 expects them (the same list, not a copy)."""
        return self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._data)

    def __repr__(self) -> str:
        types = ", ".join(d["decisionType"] for d in self._data)
        return f"Decisions([{types}])"

    def validate(self) -> None:
        """Raise DecisionError if the batch as a whole would be rejected by SWF.

        A close decision (complete, fail, cancel, continue-as-new) must be the
        last one, and there can be only one; the whole batch must fit in one
        1 MB request.
        """
        last = len(self._data) - 1
        size = len(json.dumps(self._data, separators=(",", ":")).encode())
        if size > MAX_REQUEST_BYTES:
            raise DecisionError(
                last,
                self._data[last]["decisionType"],
                None,
                f"the batch of {len(self._data)} decisions is {size} bytes as JSON; "
                f"SWF takes at most {MAX_REQUEST_BYTES} bytes per request",
            )
        for index, decision in enumerate(self._data):
            decision_type = decision["decisionType"]
            if decision_type in CLOSE_DECISIONS and index != last:
                raise DecisionError(
                    index,
                    decision_type,
                    None,
                    f"a decision that closes the execution must be last, "
                    f"but {last - index} decision(s) follow it",
                )

    # -- activities -------------------------------------------------------------

    def schedule_activity_task(
        self,
        activity_id: str,
        activity_type_name: str,
        activity_type_version: str,
        task_list: str | None = None,
        control: str | None = None,
        heartbeat_timeout: Duration = None,
        schedule_to_close_timeout: Duration = None,
        schedule_to_start_timeout: Duration = None,
        start_to_close_timeout: Duration = None,
        input: str | None = None,
        task_priority: int | str | None = None,
    ) -> None:
        """Schedule an activity task (ActivityTaskScheduled)."""
        self._add(
            "ScheduleActivityTask",
            {
                "activityId": activity_id,
                "activityType": {"name": activity_type_name, "version": activity_type_version},
                "taskList": _task_list(task_list),
                "control": control,
                "heartbeatTimeout": heartbeat_timeout,
                "scheduleToCloseTimeout": schedule_to_close_timeout,
                "scheduleToStartTimeout": schedule_to_start_timeout,
                "startToCloseTimeout": start_to_close_timeout,
                "input": input,
                "taskPriority": task_priority,
            },
        )

    def request_cancel_activity_task(self, activity_id: str) -> None:
        """Ask for a scheduled or running activity task to be canceled."""
        self._add("RequestCancelActivityTask", {"activityId": activity_id})

    def schedule_lambda_function(
        self,
        function_id: str,
        function_name: str,
        control: str | None = None,
        input: str | None = None,
        start_to_close_timeout: Duration = None,
    ) -> None:
        """Schedule an AWS Lambda function (LambdaFunctionScheduled)."""
        self._add(
            "ScheduleLambdaFunction",
            {
                "id": function_id,
                "name": function_name,
                "control": control,
                "input": input,
                "startToCloseTimeout": start_to_close_timeout,
            },
        )

    # -- markers and timers -----------------------------------------------------

    def record_marker(self, marker_name: str, details: str | None = None) -> None:
        """Record a MarkerRecorded event carrying ``details``."""
        self._add("RecordMarker", {"markerName": marker_name, "details": details})

    def start_timer(
        self, start_to_fire_timeout: int | str, timer_id: str, control: str | None = None
    ) -> None:
        """Start a timer that fires (TimerFired) after ``start_to_fire_timeout`` seconds."""
        self._add(
            "StartTimer",
            {"timerId": timer_id, "control": control, "startToFireTimeout": start_to_fire_timeout},
        )

    def cancel_timer(self, timer_id: str) -> None:
        """Cancel a started timer (TimerCanceled)."""
        self._add("CancelTimer", {"timerId": timer_id})

    # -- closing the execution ----------------------------------------------------

    def complete_workflow_execution(self, result: str | None = None) -> None:
        """Close the execution as completed with ``result``."""
        self._add("CompleteWorkflowExecution", {"result": result})

    def fail_workflow_execution(
        self, reason: str | None = None, details: str | None = None
    ) -> None:
        """Close the execution as failed."""
        self._add("FailWorkflowExecution", {"reason": reason, "details": details})

    def cancel_workflow_execution(self, details: str | None = None) -> None:
        """Close the execution as canceled (after a cancel request)."""
        self._add("CancelWorkflowExecution", {"details": details})

    #: boto spelled it with an "s"; kept so ported deciders run unchanged.
    cancel_workflow_executions = cancel_workflow_execution

    def continue_as_new_workflow_execution(
        self,
        child_policy: str | None = None,
        execution_start_to_close_timeout: Duration = None,
        input: str | None = None,
        tag_list: Sequence[str] | None = None,
        task_list: str | None = None,
        start_to_close_timeout: Duration = None,
        workflow_type_version: str | None = None,
        task_priority: int | str | None = None,
        lambda_role: str | None = None,
    ) -> None:
        """Close the execution and start a new run with the same workflow id.

        ``start_to_close_timeout`` is the decision tasks' start-to-close timeout
        (SWF's ``taskStartToCloseTimeout``), as boto named it.
        """
        self._add(
            "ContinueAsNewWorkflowExecution",
            {
                "input": input,
                "executionStartToCloseTimeout": execution_start_to_close_timeout,
                "taskList": _task_list(task_list),
                "taskPriority": task_priority,
                "taskStartToCloseTimeout": start_to_close_timeout,
                "childPolicy": child_policy,
                "tagList": _tags(tag_list),
                "workflowTypeVersion": workflow_type_version,
                "lambdaRole": lambda_role,
            },
        )

    # -- other executions ---------------------------------------------------------

    def signal_external_workflow_execution(
        self,
        workflow_id: str,
        signal_name: str,
        run_id: str | None = None,
        control: str | None = None,
        input: str | None = None,
    ) -> None:
        """Signal another execution (SignalExternalWorkflowExecutionInitiated)."""
        self._add(
            "SignalExternalWorkflowExecution",
            {
                "workflowId": workflow_id,
                "runId": run_id,
                "signalName": signal_name,
                "input": input,
                "control": control,
            },
        )

    def request_cancel_external_workflow_execution(
        self, workflow_id: str, control: str | None = None, run_id: str | None = None
    ) -> None:
        """Ask another execution to cancel itself."""
        self._add(
            "RequestCancelExternalWorkflowExecution",
            {"workflowId": workflow_id, "runId": run_id, "control": control},
        )

    def start_child_workflow_execution(
        self,
        workflow_type_name: str,
        workflow_type_version: str,
        workflow_id: str,
        child_policy: str | None = None,
        control: str | None = None,
        execution_start_to_close_timeout: Duration = None,
        input: str | None = None,
        tag_list: Sequence[str] | None = None,
        task_list: str | None = None,
        task_start_to_close_timeout: Duration = None,
        task_priority: int | str | None = None,
        lambda_role: str | None = None,
    ) -> None:
        """Start a child execution (StartChildWorkflowExecutionInitiated)."""
        self._add(
            "StartChildWorkflowExecution",
            {
                "workflowType": {"name": workflow_type_name, "version": workflow_type_version},
                "workflowId": workflow_id,
                "control": control,
                "input": input,
                "executionStartToCloseTimeout": execution_start_to_close_timeout,
                "taskList": _task_list(task_list),
                "taskPriority": task_priority,
                "taskStartToCloseTimeout": task_start_to_close_timeout,
                "childPolicy": child_policy,
                "tagList": _tags(tag_list),
                "lambdaRole": lambda_role,
            },
        )

    # -- internals ----------------------------------------------------------------

    def _add(self, decision_type: str, attributes: dict[str, Any]) -> None:
        index = len(self._data)
        attrs_key, shape = _decision_shapes()[decision_type]
        attrs = {k: v for k, v in attributes.items() if v is not None}

        def fail(field: str | None, problem: str) -> DecisionError:
            return DecisionError(index, decision_type, field, problem)

        for name in _JSON_PAYLOADS.intersection(attrs):
            if not isinstance(attrs[name], str):
                try:
                    attrs[name] = codecs.encode("json", attrs[name], name)
                except CodecError as exc:
                    raise fail(name, str(exc)) from None

        for name, member in shape.members.items():
            if name in attrs and member.name in ("DurationInSeconds", "DurationInSecondsOptional"):
                attrs[name] = _duration(attrs[name], member.name.endswith("Optional"), name, fail)
        if "taskPriority" in attrs:
            attrs["taskPriority"] = _priority(attrs["taskPriority"], fail)
        for path, problem in _problems(attrs, shape, ""):
            raise fail(path, problem)
        for path in _IDENTIFIER_FIELDS:
            head, _, tail = path.partition(".")
            value = attrs.get(head)
            if tail and isinstance(value, dict):
                value = value.get(tail)
            problem = _identifier_problem(value) if value is not None else None
            if problem:
                raise fail(path, f"{value!r:.60} {problem}")
        self._data.append({"decisionType": decision_type, attrs_key: attrs})


def _task_list(name: str | None) -> dict[str, str] | None:
    return None if name is None else {"name": name}


def _tags(tags: Sequence[str] | None) -> list[str] | None:
    return None if tags is None else list(tags)


def _duration(value: Any, none_allowed: bool, field: str, fail: Any) -> str:
    """SWF durations are strings of whole seconds, or "NONE" where the field allows it."""
    if isinstance(value, bool):
        raise fail(field, f"expected seconds as an int or a digit string, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise fail(field, f"{value} seconds is negative")
        return str(value)
    if isinstance(value, str):
        if value == "NONE":
            if none_allowed:
                return value
            raise fail(field, "'NONE' is not allowed here; give a number of seconds")
        if value.isdigit() and value.isascii():
            return value
    allowed = 'int seconds or "NONE"' if none_allowed else "int seconds"
    raise fail(field, f"expected {allowed}, got {value!r:.60}")


def _priority(value: Any, fail: Any) -> str:
    """Task priorities are Java ints sent as strings."""
    try:
        number = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    low, high = _TASK_PRIORITY_RANGE
    if number is None or not (low <= number <= high) or isinstance(value, float):
        raise fail("taskPriority", f"expected an integer from {low} to {high}, got {value!r:.60}")
    return str(number)
