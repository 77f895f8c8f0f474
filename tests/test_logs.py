"""Log lines: JSON with the fixed fields and task context, or text; tracebacks kept."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from swfd import logs


@pytest.fixture(autouse=True)
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    if logs._handler is not None:
        root.removeHandler(logs._handler)
        logs._handler = None
    root.handlers[:] = handlers
    root.setLevel(level)


def emit(log_format: str, pool: str | None) -> str:
    """Log from a fresh interpreter, so the handler writes to a real stderr."""
    code = f"""
import logging
from swfd import logs
logs.setup({log_format!r}, "INFO", pool={pool!r})
log = logging.getLogger("swfd.worker")
log.info("task done", extra={{"workflowId": "wf-1", "runId": "run-1", "activityId": "a-1"}})
log.debug("not shown")
try:
    raise ValueError("bad input")
except ValueError:
    log.error("handler failed", exc_info=True, extra={{"decisionStartedEventId": 7}})
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stderr


def test_json_lines_carry_fixed_fields_and_task_context():
    lines = [json.loads(line) for line in emit("json", "worker:default").splitlines()]
    assert len(lines) == 2
    info, error = lines
    for record in lines:
        assert set(record) >= {"timestamp", "level", "logger", "message", "pid", "pool"}
        assert record["pool"] == "worker:default" and isinstance(record["pid"], int)
        assert record["logger"] == "swfd.worker"
    assert info["level"] == "INFO" and info["message"] == "task done"
    assert (info["workflowId"], info["runId"], info["activityId"]) == ("wf-1", "run-1", "a-1")
    assert info["timestamp"].endswith("+00:00")
    assert error["decisionStartedEventId"] == 7
    assert "Traceback (most recent call last)" in error["exc_info"]
    assert "ValueError: bad input" in error["exc_info"]


def test_text_lines_name_pool_pid_and_context():
    out = emit("text", None)
    first = out.splitlines()[0]
    assert " INFO [master " in first and "swfd.worker: task done" in first
    assert first.endswith("workflowId=wf-1 runId=run-1 activityId=a-1")
    assert "handler failed decisionStartedEventId=7\nTraceback" in out
    assert "not shown" not in out


def test_setup_replaces_its_handler_and_rejects_bad_values(capsys):
    logs.setup("text", "INFO", pool="worker:a")
    logs.setup("text", "WARNING", pool="worker:b")
    log = logging.getLogger("swfd.test")
    log.info("hidden")
    log.warning("shown")
    err = capsys.readouterr().err
    assert err.count("shown") == 1 and "[worker:b " in err and "hidden" not in err
    with pytest.raises(ValueError, match="log_format"):
        logs.setup("xml", "INFO")
    with pytest.raises(ValueError, match="log_level"):
        logs.setup("json", "LOUD")


def test_task_context_keeps_known_fields_only():
    assert logs.task_context(workflowId="w", runId=None, input="payload") == {"workflowId": "w"}
