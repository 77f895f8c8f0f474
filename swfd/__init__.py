"""swfd: run Amazon SWF deciders and activity workers from pip-installed plugins.

The names below are the public API a plugin author uses. They are resolved
lazily so that light entry points (the local endpoint, the admin CLI) do not
pay for importing the plugin machinery.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "activity": "swfd.registry",
    "workflow": "swfd.registry",
    "ActivityDef": "swfd.registry",
    "WorkflowDef": "swfd.registry",
    "hookimpl": "swfd.hookspecs",
    "Decisions": "swfd.decisions",
    "Canceled": "swfd.errors",
    # workflows as code (swfd.flow)
    "Retry": "swfd.flow.retry",
    "gather": "swfd.flow.futures",
    "wait": "swfd.flow.futures",
    "FIRST_COMPLETED": "swfd.flow.futures",
    "ALL_COMPLETED": "swfd.flow.futures",
    "FIRST_EXCEPTION": "swfd.flow.futures",
    "CancelledError": "swfd.flow.futures",
    "ActivityFailed": "swfd.errors",
    "ChildWorkflowFailed": "swfd.errors",
    "ExternalWorkflowFailed": "swfd.errors",
    "WorkflowFailed": "swfd.errors",
    "NonRetryable": "swfd.errors",
    "NonDeterminismError": "swfd.errors",
    "ContinueAsNew": "swfd.errors",
}

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "ActivityDef",
    "ActivityFailed",
    "Canceled",
    "CancelledError",
    "ChildWorkflowFailed",
    "ContinueAsNew",
    "Decisions",
    "ExternalWorkflowFailed",
    "NonDeterminismError",
    "NonRetryable",
    "Retry",
    "WorkflowDef",
    "WorkflowFailed",
    "__version__",
    "activity",
    "gather",
    "hookimpl",
    "wait",
    "workflow",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'swfd' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
