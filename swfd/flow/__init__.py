"""Workflows as code: ``async def`` workflows replayed from the SWF history.

A workflow declared with ``@swfd.workflow`` on an ``async def`` takes a
workflow context (``wf``) and its input, and reads as the sequential code it
is::

    @swfd.workflow(name="Booking", version="2.0", task_list="booking")
    async def booking(wf, request):
        itinerary = await wf.activity(select_itinerary, request)
        ...

At every decision task the coroutine runs from the start against the history
(:mod:`swfd.flow.replay`): outcomes already recorded resolve at once, and the
first await whose outcome is not in the history ends the decision task with
the decisions made so far. The pieces: :mod:`~swfd.flow.futures` (the
deterministic loop, ``gather``, ``wait``), :mod:`~swfd.flow.context` (``wf``),
:mod:`~swfd.flow.retry` (``Retry``), :mod:`~swfd.flow.commands` (matching
decisions to events).
"""

from __future__ import annotations

import importlib
from typing import Any

# Resolved on first use: declaring a workflow or a retry policy (importing a plugin)
# does not import the loop, nor asyncio with it.
_NAMES = {"ALL_COMPLETED": "futures", "FIRST_COMPLETED": "futures",
          "FIRST_EXCEPTION": "futures", "gather": "futures", "wait": "futures",
          "Retry": "retry", "check_history": "replay"}

__all__ = ["ALL_COMPLETED", "FIRST_COMPLETED", "FIRST_EXCEPTION", "Retry", "check_history", "gather",
           "wait"]


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'swfd.flow' has no attribute {name!r}")
    return getattr(importlib.import_module(f"swfd.flow.{module}"), name)
