"""swfd's JSON formatter writes exactly the lines python-json-logger's would.

``swfd.logs.FastJsonFormatter`` redoes two of python-json-logger's steps more
cheaply (see its docstring); these tests format the same records with both and
compare the lines, over the record shapes a plugin can produce.
"""

from __future__ import annotations

import datetime
import enum
import json
import logging
import sys
import uuid

import pytest
from pythonjsonlogger.json import JsonFormatter

from swfd.logs import FastJsonFormatter, _json_formatter

FMT = "%(levelname)s %(name)s %(message)s %(pid)s %(pool)s"
OPTIONS = {"rename_fields": {"levelname": "level", "name": "logger"}, "timestamp": True}


class Color(enum.Enum):
    RED = 1


class Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


def record(msg, *args, exc_info=None, stack_info=None, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("swfd.worker", logging.INFO, __file__, 42, msg, args, exc_info,
                            func="handle", sinfo=stack_info)
    rec.pid = 1234
    rec.pool = "worker:default"
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def raised() -> tuple:
    try:
        raise ValueError("bad input \u00e9")
    except ValueError:
        return sys.exc_info()


CASES = {
    "plain": lambda: record("activity %s %s completed in %.2f s", "noop", "1", 0.0012),
    "task context": lambda: record("answered", workflowId="w-1", runId="r" * 44,
                                   activityId="a-1", decisionStartedEventId=7),
    "odd extras": lambda: record("x", when=datetime.datetime(2026, 1, 2, 3, 4, 5),
                                 day=datetime.date(2026, 1, 2), color=Color.RED,
                                 blob=b"\x00\xff", ident=uuid.UUID(int=5), thing=Opaque(),
                                 nested={"a": [1, 2.5, None, True]}, _private="hidden"),
    "unicode": lambda: record("caf\u00e9 \u2603 %s", "\U0001f600", note="\u00fc\u00df"),
    "exception": lambda: record("failed", exc_info=raised(), runId="r"),
    "stack": lambda: record("where", stack_info="Stack (most recent call last):\n  here"),
    "dict message": lambda: record({"event": "x", "n": 1}),
    "overrides a required field": lambda: record("m", pool=None),
}


def numeric_key() -> logging.LogRecord:
    rec = record("numeric")
    rec.__dict__[7] = "seven"
    return rec


CASES["numeric key"] = numeric_key


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("options", [OPTIONS, {}, {"timestamp": "ts"},
                                     {**OPTIONS, "static_fields": {"app": "swfd"}},
                                     {**OPTIONS, "json_ensure_ascii": False},
                                     {**OPTIONS, "rename_fields_keep_missing": True}],
                         ids=["swfd", "bare", "named-timestamp", "static", "utf8", "keep-missing"])
def test_lines_equal_python_json_loggers(case, options):
    stock, fast = JsonFormatter(FMT, **options), FastJsonFormatter(FMT, **options)
    expected = stock.format(CASES[case]())
    got = fast.format(CASES[case]())
    # Each call made its own record, so only the creation time can differ.
    e, g = json.loads(expected), json.loads(got)
    for key in ("timestamp", "ts"):
        if key in e:
            assert isinstance(g.pop(key), str)
            e.pop(key)
    assert g == e
    assert list(g) == list(e), "fields in the same order"


def test_same_record_gives_the_same_bytes():
    rec = CASES["odd extras"]()
    stock, fast = JsonFormatter(FMT, **OPTIONS), FastJsonFormatter(FMT, **OPTIONS)
    assert fast.format(rec) == stock.format(rec)
    rec = CASES["exception"]()
    assert fast.format(rec) == stock.format(rec)


def test_swfds_formatter_is_the_fast_one():
    assert isinstance(_json_formatter(), FastJsonFormatter)


def test_a_custom_serializer_is_still_used():
    fast = FastJsonFormatter(FMT, json_serializer=lambda data, **_: "custom")
    assert fast.format(record("m")) == "custom"
