"""swfd's fast parse of SWF responses gives exactly botocore's dicts (swfd.swf.fastparse).

Against botocore's own JSON parser, on: every operation's output shape filled from
the service model, one event of every HistoryEvent type with every attribute
filled, odd bodies (nulls, unknown keys, wrong types, not JSON, errors), timestamps
in zones with DST, and the bodies plain boto3 received while the seed tutorial's
workflows ran on the local endpoint.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from typing import Any

import botocore.parsers
import botocore.session
import pytest

from swfd.swf.fastparse import FastJSONParser, FastParserFactory

MODEL = botocore.session.get_session().get_service_model("swf")
T0 = 1_700_000_000.125


def same(a: Any, b: Any, where: str = "") -> None:
    """Equal, and of the same types all the way down (1 == True, and aware datetimes
    compare equal across zones: both are checked more strictly here)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{where}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, datetime.datetime):
        assert stamp(a) == stamp(b), where
        assert type(a.tzinfo) is type(b.tzinfo), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def stamp(value: datetime.datetime) -> tuple:
    """What makes two aware datetimes the same one. Not ``==``: in the repeated hour at a
    DST change, datetimes with different tzinfo objects never compare equal (PEP 495),
    not even two of botocore's own for the same value."""
    return (value.timestamp(), value.replace(tzinfo=None), value.fold, value.utcoffset(),
            type(value.tzinfo))


def fill(shape: Any, path: tuple[str, ...] = ()) -> Any:
    """A JSON value for ``shape`` with every member present (enums take their first)."""
    kind = shape.type_name
    if kind == "structure":
        if len(path) > 6:
            return {}
        return {name: fill(member, (*path, name)) for name, member in shape.members.items()}
    if kind == "list":
        return [fill(shape.member, path), fill(shape.member, path)]
    if kind == "string":
        return shape.enum[0] if shape.enum else "s-" + ".".join(path[-2:])
    if kind in ("integer", "long"):
        return len(path) + 3
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return T0 + len(path)
    raise AssertionError(f"a shape type SWF's model did not have: {kind} ({shape.name})")


def response(body: Any, status: int = 200) -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return {"body": raw, "status_code": status,
            "headers": {"x-amzn-RequestId": "req-1", "Content-Type": "application/x-amz-json-1.0"}}


def check(operation: str, body: Any, status: int = 200) -> dict[str, Any]:
    shape = MODEL.operation_model(operation).output_shape
    expected = botocore.parsers.create_parser("json").parse(response(body, status), shape)
    got = FastJSONParser().parse(response(body, status), shape)
    same(got, expected, operation)
    return got


def test_every_operation_output_filled_from_the_model_parses_as_botocore():
    checked = 0
    for operation in MODEL.operation_names:
        shape = MODEL.operation_model(operation).output_shape
        if shape is not None:
            check(operation, fill(shape))
            checked += 1
        check(operation, {})
    assert checked >= 15


def test_every_history_event_type_with_every_attribute_parses_as_botocore():
    event_shape = MODEL.shape_for("HistoryEvent")
    types = MODEL.shape_for("EventType").enum
    events = []
    for i, event_type in enumerate(types, 1):
        key = event_type[0].lower() + event_type[1:] + "EventAttributes"
        assert key in event_shape.members, f"no attributes member for {event_type}"
        events.append({"eventTimestamp": T0 + i / 1000, "eventType": event_type, "eventId": i,
                       key: fill(event_shape.members[key], (key,))})
    assert len(events) == len(types) >= 50
    for operation in ("GetWorkflowExecutionHistory", "PollForDecisionTask"):
        parsed = check(operation, {"events": events, "nextPageToken": "p2", "taskToken": "t",
                                   "startedEventId": 3, "previousStartedEventId": 0})
        assert [e["eventType"] for e in parsed["events"]] == types
        stamp = parsed["events"][0]["eventTimestamp"]
        assert stamp.tzinfo is not None and stamp.timestamp() == pytest.approx(T0 + 0.001)


@pytest.mark.parametrize("body", [
    {"events": [{"eventId": 1, "eventType": "WorkflowExecutionStarted", "eventTimestamp": None,
                 "brandNewMember": {"x": 1}, "workflowExecutionStartedEventAttributes": None}]},
    {"events": [None, {"eventId": 2}], "nextPageToken": None, "unknown": [1, 2]},
    {"events": "not a list"},
    {"events": [["not", "an", "object"]]},
    {"events": [{"eventId": 1, "eventTimestamp": "2024-03-10T02:30:00Z"}]},
    {"events": [{"eventId": 1, "eventTimestamp": "1700000000.5"}]},
    {"events": [{"eventId": 1, "eventTimestamp": True}]},
    {"events": [{"eventId": 1, "eventTimestamp": 0}, {"eventId": 2, "eventTimestamp": -86400.5}]},
    {"events": [{"eventId": True, "eventType": 7}]},
    [1, 2, 3],
    b"",
    b"null",
    b"{not json",
    b"\xff\xfe not utf-8",
])
def test_odd_bodies_parse_as_botocore(body):
    shape = MODEL.operation_model("GetWorkflowExecutionHistory").output_shape
    try:
        expected = botocore.parsers.create_parser("json").parse(response(body), shape)
    except Exception as exc:  # noqa: BLE001 - botocore refuses it: so must the fast parse, the same way
        with pytest.raises(type(exc)):
            FastJSONParser().parse(response(body), shape)
        return
    same(FastJSONParser().parse(response(body), shape), expected)


def test_a_timestamp_out_of_range_is_refused_as_botocore_refuses_it():
    shape = MODEL.operation_model("GetWorkflowExecutionHistory").output_shape
    body = {"events": [{"eventId": 1, "eventTimestamp": 1e300}]}
    with pytest.raises(Exception) as expected:
        botocore.parsers.create_parser("json").parse(response(body), shape)
    with pytest.raises(expected.type):
        FastJSONParser().parse(response(body), shape)


@pytest.mark.parametrize("status, body", [
    (400, {"__type": "com.amazonaws.swf.base.model#UnknownResourceFault", "message": "gone"}),
    (400, {"__type": "com.amazon.coral.validate#ValidationException", "message": "bad"}),
    (500, b""),
    (503, b"<html>busy</html>"),
])
def test_errors_parse_as_botocore(status, body):
    check("PollForDecisionTask", body, status)


def test_clients_get_the_fast_parser_and_one_per_protocol():
    from swfd.swf.client import make_client

    client = make_client("http://127.0.0.1:9", "us-east-1",
                         credentials={"aws_access_key_id": "a", "aws_secret_access_key": "b"})
    factory = client._endpoint._response_parser_factory
    assert isinstance(factory, FastParserFactory)
    assert isinstance(factory.create_parser("json"), FastJSONParser)
    assert factory.create_parser("json") is factory.create_parser("json")
    assert type(factory.create_parser("query")) is botocore.parsers.QueryParser


ZONES_SCRIPT = r"""
import datetime, json, sys, time
from botocore.utils import parse_timestamp
from swfd.swf.fastparse import epoch_to_datetime
bad = []
checked = 0
for year in (1999, 2024, 2037):
    for month, day in ((3, 8), (3, 25), (10, 25), (11, 1), (4, 5), (10, 1)):
        start = datetime.datetime(year, month, day, tzinfo=datetime.timezone.utc).timestamp()
        for step in range(0, 14 * 86400, 900):
            for frac in (0, 0.5, 0.999999):
                value = start + step + frac
                a, b = epoch_to_datetime(value), parse_timestamp(value)
                checked += 1
                # Not a == b: in the repeated hour, datetimes with different tzinfo
                # objects never compare equal (PEP 495), botocore's own included.
                if (a.timestamp(), a.fold, a.utcoffset(), a.replace(tzinfo=None),
                        type(a), type(a.tzinfo)) != (b.timestamp(), b.fold, b.utcoffset(),
                        b.replace(tzinfo=None), type(b), type(b.tzinfo)):
                    bad.append(repr((value, a, a.fold, b, b.fold)))
a, b = epoch_to_datetime(1700000000), parse_timestamp(1700000000)
assert type(a) is type(b) and a == b
print(json.dumps({"checked": checked, "bad": bad[:5], "zone": time.tzname}))
"""


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "Australia/Lord_Howe",
                                  "UTC"])
def test_timestamps_match_botocore_in_zones_with_dst(zone):
    if not os.path.exists(f"/usr/share/zoneinfo/{zone}"):
        pytest.skip(f"no zoneinfo for {zone}")
    out = subprocess.run([sys.executable, "-c", ZONES_SCRIPT], env={**os.environ, "TZ": zone},
                         capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout)
    assert result["checked"] > 20_000 and result["bad"] == [], result
