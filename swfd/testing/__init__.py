"""swfd's test kit: what a plugin author needs to test activities and workflows.

- :func:`run_activity`: one activity handler on a fake task (input, heartbeats,
  a cancel request), returning its result or exception;
- :func:`run_workflow`: one workflow to completion, in-process, against a local
  SWF endpoint whose clock the kit controls (timers and retry backoffs are
  skipped, not waited for), with the handlers (or fakes) run inline by the
  daemon's own decider and worker code;
- :func:`check_replay`: a workflow's code against recorded histories
  (``swfd history --json``), to catch non-deterministic changes before a deploy;
- the pytest plugin (:mod:`swfd.testing.pytest_plugin`, loaded through the
  ``pytest11`` entry point; ``-p no:swfd`` turns it off): fixtures
  ``swf_endpoint``, ``swf_client``, ``swfd_daemon``;
- :func:`wait_for` and :func:`free_port`, for tests of real processes.

Names are resolved lazily: importing ``swfd.testing`` (as the pytest plugin does
in every pytest run where swfd is installed) imports neither boto3 nor the
local endpoint.
"""

from __future__ import annotations

import importlib
from typing import Any

from swfd.testing.waiting import WaitTimeout, free_port, wait_for

_LAZY = {
    "ManualClock": "swfd.testing.clock",
    "run_activity": "swfd.testing.activities",
    "ActivityOutcome": "swfd.testing.activities",
    "run_workflow": "swfd.testing.workflows",
    "WorkflowRun": "swfd.testing.runs",
    "WorkflowDidNotClose": "swfd.testing.workflows",
    "DeciderFailed": "swfd.testing.workflows",
    "MissingDefinition": "swfd.testing.workflows",
    "InProcessEndpoint": "swfd.testing.endpoint",
    "check_replay": "swfd.testing.replay",
    "load_history": "swfd.testing.replay",
    "dump_history": "swfd.testing.replay",
    "Daemon": "swfd.testing.daemon",
}

__all__ = [
    "ActivityOutcome", "Daemon", "DeciderFailed", "InProcessEndpoint", "ManualClock",
    "MissingDefinition",
    "WaitTimeout", "WorkflowDidNotClose", "WorkflowRun", "check_replay", "dump_history",
    "free_port",
    "load_history", "run_activity", "run_workflow", "wait_for",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'swfd.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
