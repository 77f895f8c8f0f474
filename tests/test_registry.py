"""Decorators, definitions, codecs and the Registry: everything checked at import time."""

from __future__ import annotations

import pytest

import swfd
from swfd import codecs
from swfd.errors import CodecError, DefinitionError
from swfd.registry import ActivityDef, Registry, WorkflowDef


def test_activity_decorator_returns_callable_definition_with_swf_defaults():
    @swfd.activity("HelloWorld", "1.0")
    def hello(task):
        return f"hi {task}"

    assert isinstance(hello, ActivityDef)
    assert hello("there") == "hi there"
    assert hello.key == ("HelloWorld", "1.0")
    assert (hello.task_list, hello.codec) == ("default", "json")
    assert hello.heartbeat_timeout == "600"
    assert hello.start_to_close_timeout == "3600"
    assert hello.schedule_to_start_timeout == "300"
    assert hello.schedule_to_close_timeout == "3900"
    assert hello.task_priority is None
    assert (hello.__name__, hello.__wrapped__) == ("hello", hello.func)


def test_workflow_decorator_carries_seed_defaults():
    @swfd.workflow("HelloWorkflow", "1.0", task_priority=5, codec="raw")
    def decide(task):
        return None

    assert isinstance(decide, WorkflowDef)
    assert decide.execution_start_to_close_timeout == "3600"
    assert decide.task_start_to_close_timeout == "300"
    assert decide.child_policy == "TERMINATE"
    assert decide.task_priority == "5"
    assert decide.codec == "raw"


def test_timeouts_accept_none_and_digit_strings():
    @swfd.activity("A", "1", heartbeat_timeout=None, start_to_close_timeout="NONE",
                   schedule_to_start_timeout="15", schedule_to_close_timeout=20.0)
    def a(task):
        return None

    assert (a.heartbeat_timeout, a.start_to_close_timeout) == ("NONE", "NONE")
    assert (a.schedule_to_start_timeout, a.schedule_to_close_timeout) == ("15", "20")


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"name": "bad:name", "version": "1"}, "name 'bad:name'"),
        ({"name": "", "version": "1"}, "1 to 256 characters"),
        ({"name": "arn", "version": "1"}, "literal string 'arn'"),
        ({"name": " x", "version": "1"}, "whitespace"),
        ({"name": "A", "version": "v" * 65}, "1 to 64 characters"),
        ({"name": "A", "version": 1}, "version must be a string"),
        ({"name": "A", "version": "1", "task_list": "a/b"}, "task_list 'a/b'"),
        ({"name": "A", "version": "1", "heartbeat_timeout": -1}, "heartbeat_timeout -1"),
        ({"name": "A", "version": "1", "start_to_close_timeout": "1h"}, "start_to_close"),
        ({"name": "A", "version": "1", "start_to_close_timeout": True}, "start_to_close"),
        ({"name": "A", "version": "1", "codec": "pickle"}, "codec 'pickle'"),
        ({"name": "A", "version": "1", "task_priority": "high"}, "task_priority 'high'"),
    ],
)
def test_bad_activity_declarations_are_rejected_naming_the_field(kwargs, needle):
    with pytest.raises(DefinitionError) as info:

        @swfd.activity(**kwargs)
        def handler(task):
            return None

    assert needle in str(info.value)
    assert "handler" in str(info.value)  # names the function it was about


def test_workflow_execution_timeout_cannot_be_none_and_child_policy_is_checked():
    with pytest.raises(DefinitionError, match="execution_start_to_close_timeout"):
        swfd.workflow("W", "1", execution_start_to_close_timeout="NONE")(lambda task: None)
    with pytest.raises(DefinitionError, match="child_policy 'KILL'"):
        swfd.workflow("W", "1", child_policy="KILL")(lambda task: None)


def test_decorating_a_non_callable_is_an_error():
    with pytest.raises(DefinitionError, match="not callable"):
        swfd.activity("A", "1")("not a function")


def test_registry_indexes_by_key_and_task_list_and_rejects_duplicates():
    a1 = swfd.activity("A", "1", task_list="a_tasks")(lambda task: None)
    b1 = swfd.activity("B", "1")(lambda task: None)
    w1 = swfd.workflow("A", "1")(lambda task: None)  # same name, other namespace
    registry = Registry.from_defs([a1, b1, w1, a1], plugin="one")
    assert registry.activity("A", "1") is a1
    assert registry.workflow("A", "1") is w1
    assert registry.activities_for("a_tasks") == [a1]
    assert registry.workflows_for("default") == [w1]
    assert "A 1, B 1" in registry.describe()

    other = swfd.activity("A", "1")(lambda task: None)
    with pytest.raises(DefinitionError) as info:
        registry.add(other, "two")
    assert "plugin 'one'" in str(info.value) and "plugin 'two'" in str(info.value)


def test_registry_rejects_things_that_are_not_definitions():
    with pytest.raises(DefinitionError, match="expected a definition"):
        Registry().add(lambda task: None, "p")  # type: ignore[arg-type]


def test_json_codec_round_trips_and_none_means_no_payload():
    assert codecs.decode("json", '{"a": [1, 2]}') == {"a": [1, 2]}
    assert codecs.decode("json", None) is None
    assert codecs.decode("json", "") is None
    assert codecs.encode("json", {"a": "é"}) == '{"a": "é"}'
    assert codecs.encode("json", None) is None
    assert codecs.encode("json", "text") == '"text"'


def test_raw_codec_passes_strings_and_rejects_other_types():
    assert codecs.decode("raw", "not json {") == "not json {"
    assert codecs.encode("raw", "Now don't be givin him sambuca!") == (
        "Now don't be givin him sambuca!"
    )
    with pytest.raises(CodecError, match="must be a str or None"):
        codecs.encode("raw", 42, "result of X")


def test_codec_errors_say_what_and_why():
    with pytest.raises(CodecError, match="input of activity X is not valid JSON"):
        codecs.decode("json", "{oops", "input of activity X")
    with pytest.raises(CodecError, match="result cannot be encoded as JSON"):
        codecs.encode("json", object(), "result")
    with pytest.raises(CodecError, match="unknown codec 'xml'"):
        codecs.decode("xml", "x")


def test_encode_field_keeps_strings_already_encoded():
    assert codecs.encode_field("json", "already") == "already"
    assert codecs.encode_field("json", {"k": 1}) == '{"k": 1}'
    assert codecs.encode_field("raw", None) is None


def test_public_api_names_resolve_lazily():
    assert swfd.hookimpl is not None
    assert issubclass(swfd.Canceled, Exception)
    assert swfd.Canceled("why").details == "why"
