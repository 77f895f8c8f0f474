"""Logging for every swfd process: JSON lines or text, on stderr.

Under systemd stderr is the journal; under supervisord it is the program's
log file. Each record carries ``pid`` and ``pool`` (``None`` in the master), and
the task context other modules pass with ``extra=`` (``workflowId``, ``runId``,
``activityId``, ``decisionStartedEventId``). Payloads are never logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from pythonjsonlogger.json import JsonEncoder, JsonFormatter

TASK_FIELDS = ("workflowId", "runId", "activityId", "decisionStartedEventId")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("json", "text")


_task_context: dict[str, Any] = {}


@contextlib.contextmanager
def task_scope(context: dict[str, Any]) -> Iterator[None]:
    """While a plugin's handler runs, its own log lines carry the task's fields too.

    A process runs one task at a time, so one module-level slot is enough; the
    heartbeat thread's lines during the task get the fields as well.
    """
    _task_context.clear()
    _task_context.update(task_context(**context))
    try:
        yield
    finally:
        _task_context.clear()


class ContextFilter(logging.Filter):
    """Stamps ``pid`` (read per record: right after a fork too), ``pool``, and the
    fields of the task in hand (see :func:`task_scope`) where a line lacks them."""

    def __init__(self, pool: str | None) -> None:
        super().__init__()
        self.pool = pool

    def filter(self, record: logging.LogRecord) -> bool:
        record.pid = os.getpid()
        record.pool = self.pool
        for key, value in tuple(_task_context.items()):
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class TextFormatter(logging.Formatter):
    """``time LEVEL [pool pid] logger: message key=value...`` plus any traceback."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s [%(poolname)s %(pid)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.poolname = getattr(record, "pool", None) or "master"
        context = " ".join(
            f"{key}={getattr(record, key)}" for key in TASK_FIELDS if hasattr(record, key)
        )
        text = super().format(record)
        if context:
            head, sep, tail = text.partition("\n")
            text = f"{head} {context}{sep}{tail}"
        return text


class FastJsonFormatter(JsonFormatter):
    """python-json-logger's formatter, writing the same lines for less work.

    Why: at INFO an activity worker writes one line per task, and that line was
    ~5 % of a no-op task's client-side CPU (bench/README.md, "The worker's
    per-task path"). Two of python-json-logger's steps are redone per line for
    nothing: building a new ``JsonEncoder`` for every ``json.dumps`` call (one
    encoder object is reused here), and collecting the record's extra fields
    (per attribute a ``hasattr``/``startswith`` and two lookups; here the same
    rules in one pass, with the renamed field names worked out once). The
    timestamp is written with ``isoformat()`` directly instead of through the
    encoder's ``default`` hook, which calls the same method. Records the fast
    path does not cover (a dict as the message, static or default fields,
    ``rename_fields_keep_missing``) take python-json-logger's own path.
    tests/test_logs_json.py checks the lines equal python-json-logger's.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._encoder = JsonEncoder(ensure_ascii=self.json_ensure_ascii, indent=self.json_indent,
                                    default=self.json_default)
        self._required_names = [(field, self._get_rename(field)) for field in self._required_fields]
        stamp = self.timestamp if isinstance(self.timestamp, str) else "timestamp"
        self._timestamp_name = self._get_rename(stamp) if self.timestamp else None
        self._fast = not (getattr(self, "defaults", None) or self.static_fields
                          or self.rename_fields_keep_missing)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        if message_dict or not self._fast:
            super().add_fields(log_data, record, message_dict)
            return
        fields = record.__dict__
        for field, name in self._required_names:
            log_data[name] = fields.get(field)
        skip, rename = self._skip_fields, self.rename_fields
        for key, value in fields.items():
            if key in skip or (key.__class__ is str and key[:1] == "_"):
                continue
            log_data[rename.get(key, key)] = value
        if self._timestamp_name is not None:
            log_data[self._timestamp_name] = datetime.fromtimestamp(
                record.created, tz=timezone.utc).isoformat()

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:
        if self.json_serializer is not json.dumps or self.json_encoder is not JsonEncoder:
            return super().jsonify_log_record(log_data)
        return self._encoder.encode(log_data)


def _json_formatter() -> logging.Formatter:
    return FastJsonFormatter(
        "%(levelname)s %(name)s %(message)s %(pid)s %(pool)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,
    )


_handler: logging.Handler | None = None


def setup(log_format: str = "text", log_level: str = "INFO", pool: str | None = None) -> None:
    """Install (or replace) swfd's stderr handler on the root logger.

    Called by the master at start and again in each child after the fork with
    its pool's section name, so the child's lines say which pool wrote them.
    """
    global _handler
    if log_format not in FORMATS:
        raise ValueError(f"log_format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    level = log_level.upper()
    if level not in LEVELS:
        raise ValueError(f"log_level must be one of {', '.join(LEVELS)}, not {log_level!r}")
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter(pool))
    handler.setFormatter(_json_formatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    # botocore's DEBUG lines carry request bodies, i.e. payloads.
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
    _handler = handler


def task_context(**fields: Any) -> dict[str, Any]:
    """``extra=`` for a task line, keeping only the known context fields that are set."""
    return {key: value for key, value in fields.items() if key in TASK_FIELDS and value is not None}
