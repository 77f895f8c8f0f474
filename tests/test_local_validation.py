"""Request validation of the local endpoint (swfd.local.validation), called directly.

The HTTP path to these errors is covered in test_local_protocol.py; here the
rules themselves: model constraints, the API reference's name and duration
rules, decision attributes and batch shape, and message wording.
"""

from __future__ import annotations

import pytest

from swfd.local.faults import SWFFault
from swfd.local.validation import validate

POLL = {"domain": "d", "taskList": {"name": "tl"}, "identity": "me"}


def fault(operation: str, params) -> SWFFault:
    with pytest.raises(SWFFault) as caught:
        validate(operation, params)
    return caught.value


def schedule(**attributes) -> dict:
    base = {"activityId": "a1", "activityType": {"name": "A", "version": "1"}}
    base.update(attributes)
    return {"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": base}


def respond(*decisions) -> dict:
    return {"taskToken": "token", "decisions": list(decisions)}


def test_valid_requests_pass_and_unknown_members_are_ignored():
    validate("PollForActivityTask", POLL)
    validate("PollForActivityTask", {**POLL, "someFutureMember": {"x": 1}, "identity": None})
    validate("RespondDecisionTaskCompleted", respond(schedule(heartbeatTimeout="NONE")))
    validate("ListDomains", {"registrationStatus": "REGISTERED", "maximumPageSize": 1000})


def test_required_member_missing_names_path():
    error = fault("PollForActivityTask", {"domain": "d"})
    assert error.code == "ValidationException" and error.status == 400
    assert error.message == (
        "1 validation error detected: Value null at 'taskList' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_lengths_counted_like_swf():
    message = fault("PollForActivityTask", {**POLL, "domain": "x" * 257}).message
    assert (
        "at 'domain' failed to satisfy constraint: Member must have length less than or "
        "equal to 256" in message
    )
    validate("PollForActivityTask", {**POLL, "domain": "x" * 256})
    # SWF counts UTF-16 code units: 128 astral characters are 256 units, 129 are too many.
    validate("PollForActivityTask", {**POLL, "domain": "\U0001f600" * 128})
    fault("PollForActivityTask", {**POLL, "domain": "\U0001f600" * 129})
    message = fault("PollForActivityTask", {**POLL, "domain": ""}).message
    assert "Member must have length greater than or equal to 1" in message


def test_several_errors_reported_together():
    error = fault("PollForActivityTask", {"domain": "", "taskList": {"name": "a|b"}})
    assert error.message.startswith("2 validation errors detected: ")
    assert "'taskList.name'" in error.message and "'|' (vertical bar)" in error.message


def test_enum_and_integer_range():
    message = fault("ListDomains", {"registrationStatus": "GONE"}).message
    assert "Value 'GONE' at 'registrationStatus'" in message
    assert "Member must satisfy enum value set: [REGISTERED, DEPRECATED]" in message
    message = fault("ListDomains", {"registrationStatus": "REGISTERED", "maximumPageSize": 1001})
    assert "Value 1001 at 'maximumPageSize'" in message.message
    assert "less than or equal to 1000" in message.message


def test_tag_list_length():
    start = {"domain": "d", "workflowId": "w", "workflowType": {"name": "n", "version": "1"}}
    validate("StartWorkflowExecution", {**start, "tagList": [f"t{i}" for i in range(5)]})
    message = fault("StartWorkflowExecution", {**start, "tagList": [f"t{i}" for i in range(6)]})
    assert (
        "at 'tagList' failed to satisfy constraint: Member must have length less than or "
        "equal to 5" in message.message
    )


@pytest.mark.parametrize(
    "value, rule",
    [
        (" lead", "must not start or end with whitespace"),
        ("trail\t", "must not start or end with whitespace"),
        ("a:b", "must not contain ':' (colon)"),
        ("a/b", "must not contain '/' (slash)"),
        ("a|b", "must not contain '|' (vertical bar)"),
        ("a\x00b", "must not contain control characters"),
        ("a\x1fb", "must not contain control characters"),
        ("a\x7fb", "must not contain control characters"),
        ("a\x9fb", "must not contain control characters"),
        ("arn", "must not be the literal string 'arn'"),
    ],
)
def test_name_rule(value, rule):
    cases = [
        ("RegisterDomain", {"name": value, "workflowExecutionRetentionPeriodInDays": "1"}, "name"),
        ("RegisterActivityType", {"domain": "d", "name": value, "version": "1"}, "name"),
        ("RegisterWorkflowType", {"domain": "d", "name": "n", "version": value}, "version"),
        (
            "StartWorkflowExecution",
            {"domain": "d", "workflowId": value, "workflowType": {"name": "n", "version": "1"}},
            "workflowId",
        ),
        ("PollForDecisionTask", {"domain": "d", "taskList": {"name": value}}, "taskList.name"),
        (
            "RespondDecisionTaskCompleted",
            respond(schedule(activityId=value)),
            "decisions.1.member.scheduleActivityTaskDecisionAttributes.activityId",
        ),
        (
            "RespondDecisionTaskCompleted",
            respond(
                {
                    "decisionType": "StartTimer",
                    "startTimerDecisionAttributes": {"timerId": value, "startToFireTimeout": "5"},
                }
            ),
            "decisions.1.member.startTimerDecisionAttributes.timerId",
        ),
    ]
    for operation, params, path in cases:
        message = fault(operation, params).message
        assert f"at '{path}' failed to satisfy constraint: Member {rule}" in message, operation


def test_name_rule_allows_inner_spaces_unicode_and_arn_substrings():
    validate("PollForDecisionTask", {"domain": "d", "taskList": {"name": "my list é arn-1"}})
    # markerName and signalName carry no character rule in the API reference.
    validate(
        "RespondDecisionTaskCompleted",
        respond(
            {
                "decisionType": "RecordMarker",
                "recordMarkerDecisionAttributes": {"markerName": "a:b"},
            }
        ),
    )


def test_durations():
    validate(
        "RespondDecisionTaskCompleted",
        respond(
            schedule(
                heartbeatTimeout="NONE", scheduleToCloseTimeout="0", startToCloseTimeout="99999999"
            )
        ),
    )
    message = fault("RespondDecisionTaskCompleted", respond(schedule(heartbeatTimeout="1.5")))
    assert (
        "Value '1.5' at 'decisions.1.member.scheduleActivityTaskDecisionAttributes."
        "heartbeatTimeout' failed to satisfy constraint: Member must be a whole number of "
        "seconds >= 0 or NONE" in message.message
    )
    fault("RespondDecisionTaskCompleted", respond(schedule(heartbeatTimeout="-1")))
    fault("RespondDecisionTaskCompleted", respond(schedule(heartbeatTimeout="none")))
    timer = {
        "decisionType": "StartTimer",
        "startTimerDecisionAttributes": {"timerId": "t", "startToFireTimeout": "NONE"},
    }
    assert "seconds >= 0'" not in fault("RespondDecisionTaskCompleted", respond(timer)).message
    start = {"domain": "d", "workflowId": "w", "workflowType": {"name": "n", "version": "1"}}
    validate("StartWorkflowExecution", {**start, "executionStartToCloseTimeout": "31536000"})
    for bad in ("NONE", "31536001"):
        message = fault("StartWorkflowExecution", {**start, "executionStartToCloseTimeout": bad})
        assert "'executionStartToCloseTimeout'" in message.message


def test_retention_and_priority():
    validate("RegisterDomain", {"name": "d", "workflowExecutionRetentionPeriodInDays": "NONE"})
    validate("RegisterDomain", {"name": "d", "workflowExecutionRetentionPeriodInDays": "90"})
    message = fault("RegisterDomain", {"name": "d", "workflowExecutionRetentionPeriodInDays": "91"})
    assert "from 0 to 90 or NONE" in message.message
    validate("RespondDecisionTaskCompleted", respond(schedule(taskPriority="-2147483648")))
    message = fault("RespondDecisionTaskCompleted", respond(schedule(taskPriority="2147483648")))
    assert "taskPriority" in message.message


def test_decision_attributes_must_match_type():
    message = fault(
        "RespondDecisionTaskCompleted",
        respond(
            {"decisionType": "StartTimer", "recordMarkerDecisionAttributes": {"markerName": "m"}}
        ),
    ).message
    assert (
        "Value null at 'decisions.1.member.startTimerDecisionAttributes' failed to satisfy "
        "constraint: Member must not be null for decisionType StartTimer" in message
    )
    message = fault(
        "RespondDecisionTaskCompleted",
        respond({"decisionType": "RecordMarker", "recordMarkerDecisionAttributes": {}}),
    ).message
    assert (
        "Value null at 'decisions.1.member.recordMarkerDecisionAttributes.markerName' failed "
        "to satisfy constraint: Member must not be null" in message
    )


def test_decisions_with_only_optional_attributes_may_omit_them():
    for kind in (
        "CompleteWorkflowExecution",
        "FailWorkflowExecution",
        "CancelWorkflowExecution",
        "ContinueAsNewWorkflowExecution",
    ):
        validate("RespondDecisionTaskCompleted", respond({"decisionType": kind}))
    for kind in ("ScheduleActivityTask", "RecordMarker", "StartChildWorkflowExecution"):
        message = fault("RespondDecisionTaskCompleted", respond({"decisionType": kind})).message
        assert f"must not be null for decisionType {kind}" in message


def test_nested_decision_attributes_checked():
    message = fault(
        "RespondDecisionTaskCompleted",
        respond(schedule(activityType={"name": "A"}, input="x" * 32769)),
    ).message
    assert message.startswith("2 validation errors detected")
    assert (
        "'decisions.1.member.scheduleActivityTaskDecisionAttributes.activityType.version'"
        in message
    )
    assert (
        "scheduleActivityTaskDecisionAttributes.input' failed to satisfy constraint: Member "
        "must have length less than or equal to 32768" in message
    )


def test_close_decision_must_be_last():
    complete = {
        "decisionType": "CompleteWorkflowExecution",
        "completeWorkflowExecutionDecisionAttributes": {},
    }
    validate("RespondDecisionTaskCompleted", respond(schedule(), complete))
    error = fault("RespondDecisionTaskCompleted", respond(complete, schedule()))
    assert error.code == "ValidationException"
    assert error.message.startswith("Close must be last decision in list")
    assert "decisions.1" in error.message


def test_type_mismatch_is_serialization_exception():
    for params, path in [
        ({**POLL, "domain": 5}, "domain"),
        ({**POLL, "taskList": "tl"}, "taskList"),
        ({"domain": "d", "startTimeFilter": {"oldestDate": "yesterday"}}, "oldestDate"),
        (
            {"domain": "d", "startTimeFilter": {"oldestDate": 1}, "maximumPageSize": "5"},
            "maximumPageSize",
        ),
        (
            {"domain": "d", "startTimeFilter": {"oldestDate": 1}, "reverseOrder": "yes"},
            "reverseOrder",
        ),
        ({"taskToken": "t", "decisions": {"decisionType": "x"}}, "decisions"),
    ]:
        operation = next(
            op
            for op, keys in [
                ("PollForActivityTask", {"taskList"}),
                ("ListOpenWorkflowExecutions", {"startTimeFilter"}),
                ("RespondDecisionTaskCompleted", {"decisions"}),
            ]
            if keys & params.keys()
        )
        error = fault(operation, params)
        assert error.code == "SerializationException", params
        assert path in error.message


def test_unknown_operation():
    error = fault("DoSomething", {})
    assert error.code == "UnknownOperationException" and "DoSomething" in error.message


def test_long_values_are_cut_in_messages():
    message = fault("PollForActivityTask", {**POLL, "domain": "y" * 5000}).message
    assert len(message) < 400 and "yyyy..." in message


def test_timestamps_must_be_finite_dates():
    base = {"domain": "d", "startTimeFilter": {"oldestDate": 0}}
    validate("ListOpenWorkflowExecutions", {**base, "startTimeFilter": {"oldestDate": 1.5e9}})
    for bad in (10**23, -(10**23), float("inf"), float("nan"), 1e300):
        error = fault(
            "ListOpenWorkflowExecutions", {**base, "startTimeFilter": {"oldestDate": bad}}
        )
        assert error.code == "SerializationException"
        assert "startTimeFilter.oldestDate" in error.message
