"""Request validation for the local endpoint, compiled once from botocore's ``swf`` model.

What is checked, and why it is checked here rather than in the engine:

* Shapes from the model: required members, JSON types, string lengths (in
  UTF-16 code units, as SWF's Java front end counts them), list lengths,
  integer ranges and enums, recursively through structures and lists (so every
  decision's attributes are checked too).
* Rules the model does not carry, taken from the API reference text:
  - names and ids (domain and type names and versions at registration, task
    list names, workflowId, activityId, timerId) must not start or end with
    whitespace, contain ``:`` ``/`` ``|`` or control characters
    (U+0000-U+001F, U+007F-U+009F), or be the literal ``arn``. The reference
    states this only for the members listed in ``_NAME_RULE_MEMBERS`` (every
    task list name included); ``markerName`` and ``signalName`` carry no such
    rule there, so they are not restricted;
  - durations are a whole number of seconds, or ``NONE`` where the reference
    allows an unlimited duration; execution start-to-close timeouts at most one
    year; retention 0-90 days or ``NONE``; task priorities a 32-bit integer;
  - each decision carries the attributes member matching its ``decisionType``
    when that structure has required members (Complete, Fail, Cancel and
    ContinueAsNew may omit it, as SWF accepts), and a close decision is the last of its batch ("Close must be last
    decision in list", as SWF answers).
* Unknown members are ignored, as AWS JSON services do (forward compatibility);
  JSON ``null`` counts as absent. A member of the wrong JSON type is a
  ``SerializationException`` (the request could not be deserialised); a broken
  constraint is a ``ValidationException`` whose message follows SWF's:
  ``1 validation error detected: Value 'x' at 'domain' failed to satisfy
  constraint: Member must have length less than or equal to 256``. All
  constraint errors of a request are reported together; long values are cut to
  64 characters in messages.

The engine may rely on everything above having been checked.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable

from swfd.local.faults import SWFFault

# A validator appends messages for ``value`` found at ``path`` to ``errors``.
Validator = Callable[[Any, str, list], None]

ONE_YEAR_SECONDS = 365 * 24 * 3600
MAX_RETENTION_DAYS = 90
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z in epoch seconds

# (structure shape, member) pairs whose API reference text states the name/id rule.
_NAME_RULE_MEMBERS = {
    ("RegisterDomainInput", "name"),
    ("RegisterActivityTypeInput", "name"),
    ("RegisterActivityTypeInput", "version"),
    ("RegisterWorkflowTypeInput", "name"),
    ("RegisterWorkflowTypeInput", "version"),
    ("StartWorkflowExecutionInput", "domain"),
    ("StartWorkflowExecutionInput", "workflowId"),
    ("ScheduleActivityTaskDecisionAttributes", "activityId"),
    ("StartChildWorkflowExecutionDecisionAttributes", "workflowId"),
    ("StartTimerDecisionAttributes", "timerId"),
    ("TaskList", "name"),  # every task list, wherever it appears
}

# Duration members where "NONE" is not allowed (API reference), with a maximum if any.
_DURATION_NO_NONE: dict[tuple[str, str], int | None] = {
    ("StartWorkflowExecutionInput", "executionStartToCloseTimeout"): ONE_YEAR_SECONDS,
    ("RegisterWorkflowTypeInput", "defaultExecutionStartToCloseTimeout"): ONE_YEAR_SECONDS,
    ("StartTimerDecisionAttributes", "startToFireTimeout"): None,
    ("RespondDecisionTaskCompletedInput", "taskListScheduleToStartTimeout"): None,
    ("ScheduleLambdaFunctionDecisionAttributes", "startToCloseTimeout"): None,
}
_DURATION_SHAPES = {"DurationInSeconds", "DurationInSecondsOptional"}

CLOSE_DECISIONS = frozenset(
    {
        "CompleteWorkflowExecution",
        "FailWorkflowExecution",
        "CancelWorkflowExecution",
        "ContinueAsNewWorkflowExecution",
    }
)

_CONTROL_CHARS = re.compile("[\u0000-\u001f\u007f-\u009f]")
_DIGITS = re.compile(r"[0-9]+\Z")
_INTEGER = re.compile(r"-?[0-9]+\Z")


def show(value: Any) -> str:
    """Render a value the way SWF's messages do: strings quoted, long ones cut."""
    if value is None:
        return "null"
    text = value if isinstance(value, str) else repr(value)
    if len(text) > 64:
        text = text[:64] + "..."
    return f"'{text}'" if isinstance(value, str) else text


def _fail(errors: list, path: str, value: Any, rule: str) -> None:
    errors.append(f"Value {show(value)} at '{path}' failed to satisfy constraint: Member {rule}")


def _type_error(path: str, value: Any, expected: str) -> SWFFault:
    return SWFFault(
        "SerializationException",
        f"Expected {expected} at '{path}' but got {type(value).__name__} {show(value)}",
    )


def _java_length(text: str) -> int:
    """String length as SWF counts it: UTF-16 code units."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def check_name(value: str, path: str, errors: list) -> None:
    """The API reference's rule for names and ids (see the module docstring)."""
    if value != value.strip():
        _fail(errors, path, value, "must not start or end with whitespace")
    for char, label in ((":", "colon"), ("/", "slash"), ("|", "vertical bar")):
        if char in value:
            _fail(errors, path, value, f"must not contain '{char}' ({label})")
    if _CONTROL_CHARS.search(value):
        _fail(
            errors,
            path,
            value,
            "must not contain control characters (\\u0000-\\u001f, \\u007f-\\u009f)",
        )
    if value == "arn":
        _fail(errors, path, value, "must not be the literal string 'arn'")


def _duration_checker(allow_none: bool, maximum: int | None) -> Callable[[str, str, list], None]:
    expectation = "must be a whole number of seconds >= 0" + (" or NONE" if allow_none else "")
    if maximum is not None:
        expectation += f", at most {maximum}"

    def check(value: str, path: str, errors: list) -> None:
        if value == "NONE" and allow_none:
            return
        if not _DIGITS.match(value) or (maximum is not None and int(value) > maximum):
            _fail(errors, path, value, expectation)

    return check


def _check_retention(value: str, path: str, errors: list) -> None:
    if value == "NONE":
        return
    if not _DIGITS.match(value) or int(value) > MAX_RETENTION_DAYS:
        _fail(
            errors,
            path,
            value,
            f"must be a whole number of days from 0 to {MAX_RETENTION_DAYS} or NONE",
        )


def _check_priority(value: str, path: str, errors: list) -> None:
    if not _INTEGER.match(value) or not INT32_MIN <= int(value) <= INT32_MAX:
        _fail(errors, path, value, f"must be an integer from {INT32_MIN} to {INT32_MAX}")


def _extra_string_rule(owner: str, member: str, shape_name: str):
    """The API-reference rule (if any) for a string member, beyond the model's lengths."""
    if (owner, member) in _NAME_RULE_MEMBERS:
        return check_name
    if (owner, member) in _DURATION_NO_NONE:
        return _duration_checker(False, _DURATION_NO_NONE[(owner, member)])
    if shape_name in _DURATION_SHAPES:
        return _duration_checker(True, None)
    if shape_name == "DurationInDays":
        return _check_retention
    if shape_name == "TaskPriority":
        return _check_priority
    return None


class _Compiler:
    """Turns model shapes into validator closures; one closure per (shape, rule) use."""

    def __init__(self) -> None:
        self._structures: dict[str, Validator] = {}

    def shape(self, shape, owner: str = "", member: str = "") -> Validator:
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape)
        if kind == "list":
            return self.list(shape, owner, member)
        if kind == "string":
            return self.string(shape, _extra_string_rule(owner, member, shape.name))
        if kind in ("integer", "long"):
            return self.integer(shape)
        if kind == "boolean":
            return self.boolean()
        if kind == "timestamp":
            return self.timestamp()
        raise NotImplementedError(f"swf model shape {shape.name} of type {kind}")

    def structure(self, shape) -> Validator:
        if shape.name in self._structures:
            return self._structures[shape.name]
        members: list[tuple[str, bool, Validator]] = []
        required = set(shape.required_members)

        def validate(value: Any, path: str, errors: list) -> None:
            if not isinstance(value, dict):
                raise _type_error(path or "request", value, "a JSON object")
            prefix = f"{path}." if path else ""
            for name, is_required, check in members:
                item = value.get(name)
                if item is None:
                    if is_required:
                        _fail(errors, prefix + name, None, "must not be null")
                    continue
                check(item, prefix + name, errors)

        # Register before compiling members so recursive shapes terminate.
        self._structures[shape.name] = validate
        for name, member_shape in shape.members.items():
            members.append((name, name in required, self.shape(member_shape, shape.name, name)))
        if shape.name == "Decision":
            validate = self._decision(validate, shape)
        elif shape.name == "RespondDecisionTaskCompletedInput":
            validate = self._batch(validate)
        self._structures[shape.name] = validate
        return validate

    def _decision(self, base: Validator, shape) -> Validator:
        # Decision types whose attributes have required members must carry them; the others
        # (Complete, Fail, Cancel, ContinueAsNew) may leave the member out, as SWF accepts.
        needs_attributes = {
            name: bool(member.required_members)
            for name, member in shape.members.items()
            if name.endswith("DecisionAttributes")
        }

        def validate(value: Any, path: str, errors: list) -> None:
            before = len(errors)
            base(value, path, errors)
            kind = value.get("decisionType")
            if len(errors) == before and isinstance(kind, str):
                attributes = kind[0].lower() + kind[1:] + "DecisionAttributes"
                if needs_attributes.get(attributes) and value.get(attributes) is None:
                    _fail(
                        errors,
                        f"{path}.{attributes}",
                        None,
                        f"must not be null for decisionType {kind}",
                    )

        return validate

    def _batch(self, base: Validator) -> Validator:
        def validate(value: Any, path: str, errors: list) -> None:
            base(value, path, errors)
            decisions = value.get("decisions")
            if errors or not decisions:
                return
            last = len(decisions) - 1
            for index, decision in enumerate(decisions):
                if index != last and decision.get("decisionType") in CLOSE_DECISIONS:
                    raise SWFFault(
                        "ValidationException",
                        f"Close must be last decision in list: decisions.{index + 1} is "
                        f"{decision['decisionType']} but {last - index} decision(s) follow it",
                    )

        return validate

    def list(self, shape, owner: str, member: str) -> Validator:
        item_check = self.shape(shape.member, owner, member)
        low, high = shape.metadata.get("min"), shape.metadata.get("max")

        def validate(value: Any, path: str, errors: list) -> None:
            if not isinstance(value, list):
                raise _type_error(path, value, "a JSON array")
            if low is not None and len(value) < low:
                _fail(errors, path, value, f"must have length greater than or equal to {low}")
            if high is not None and len(value) > high:
                _fail(errors, path, value, f"must have length less than or equal to {high}")
            for index, item in enumerate(value, 1):
                if item is None:
                    _fail(errors, f"{path}.{index}.member", None, "must not be null")
                else:
                    item_check(item, f"{path}.{index}.member", errors)

        return validate

    def string(self, shape, extra) -> Validator:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        enum = frozenset(shape.enum) if shape.enum else None
        enum_text = f"must satisfy enum value set: [{', '.join(shape.enum)}]" if enum else ""

        def validate(value: Any, path: str, errors: list) -> None:
            if not isinstance(value, str):
                raise _type_error(path, value, "a string")
            if enum is not None and value not in enum:
                _fail(errors, path, value, enum_text)
                return
            length = _java_length(value)
            if low is not None and length < low:
                _fail(errors, path, value, f"must have length greater than or equal to {low}")
            elif high is not None and length > high:
                _fail(errors, path, value, f"must have length less than or equal to {high}")
            elif extra is not None:
                extra(value, path, errors)

        return validate

    def integer(self, shape) -> Validator:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")

        def validate(value: Any, path: str, errors: list) -> None:
            if not isinstance(value, int) or isinstance(value, bool):
                raise _type_error(path, value, "an integer")
            if low is not None and value < low:
                _fail(errors, path, value, f"must have value greater than or equal to {low}")
            if high is not None and value > high:
                _fail(errors, path, value, f"must have value less than or equal to {high}")

        return validate

    @staticmethod
    def boolean() -> Validator:
        def validate(value: Any, path: str, errors: list) -> None:
            if not isinstance(value, bool):
                raise _type_error(path, value, "a boolean")

        return validate

    @staticmethod
    def timestamp() -> Validator:
        def validate(value: Any, path: str, errors: list) -> None:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise _type_error(path, value, "a timestamp (epoch seconds)")
            # Finite and within years 0001-9999 (what a date can hold); else not deserialisable.
            if not -MAX_TIMESTAMP <= value <= MAX_TIMESTAMP:
                raise _type_error(path, value, "a timestamp (epoch seconds) within years 1-9999")

        return validate


@functools.lru_cache(maxsize=1)
def service_model():
    """botocore's ``swf`` model, loaded once per process."""
    import botocore.session

    return botocore.session.get_session().get_service_model("swf")


@functools.lru_cache(maxsize=1)
def validators() -> dict[str, Validator]:
    """One compiled validator per operation name (operations without input accept anything)."""
    model = service_model()
    compiler = _Compiler()
    table: dict[str, Validator] = {}
    for name in model.operation_names:
        input_shape = model.operation_model(name).input_shape
        table[name] = compiler.structure(input_shape) if input_shape is not None else _any
    return table


@functools.lru_cache(maxsize=1)
def operations_without_output() -> frozenset[str]:
    """Operations whose response SWF sends as an empty body (no output shape)."""
    model = service_model()
    return frozenset(
        name for name in model.operation_names if model.operation_model(name).output_shape is None
    )


def _any(value: Any, path: str, errors: list) -> None:
    if not isinstance(value, dict):
        raise _type_error("request", value, "a JSON object")


def validate(operation: str, params: Any) -> None:
    """Check a request body for ``operation``; raise :class:`SWFFault` when it is invalid.

    An operation not in the model is an ``UnknownOperationException``.
    """
    check = validators().get(operation)
    if check is None:
        raise SWFFault("UnknownOperationException", f"Unknown operation: {operation!r}")
    errors: list[str] = []
    check(params, "", errors)
    if errors:
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        raise SWFFault(
            "ValidationException", f"{count} validation {noun} detected: " + "; ".join(errors)
        )
