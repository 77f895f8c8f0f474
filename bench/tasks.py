"""The no-op activity, named by import path.

simpleflow's worker dispatches an activity type by its name as a dotted import
path, so every worker in the benchmark serves the type ``bench.tasks.noop``
(version "1"): simpleflow imports this function, swfd's bench plugin
(:mod:`bench.swfd_plugin`) declares the same type, the raw loop ignores it.
"""

from __future__ import annotations

ACTIVITY_NAME = "bench.tasks.noop"
ACTIVITY_VERSION = "1"
SLEEP_NAME = "bench.tasks.sleep1"


def noop(*args, **kwargs):
    """Do nothing: the benchmark measures the worker, not the work."""


def sleep1(*args, **kwargs):
    """Sleep one second (the drain figure's task in hand)."""
    import time

    time.sleep(1.0)
