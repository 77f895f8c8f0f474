"""The hooks a swfd plugin can implement: the plugin author's reference.

A plugin is a module (usually named by an entry point in the ``swfd`` group)
with functions decorated by ``@swfd.hookimpl`` whose names are hooks below.
Implement only the hooks you need; an unknown ``swfd_*`` name is an error at
load time, so a typo does not silently do nothing.

Order of calls in the daemon:

1. a generation, at start (and at every reload, in a fresh interpreter): every
   plugin is imported, then ``swfd_configure(settings)``, then
   ``swfd_activities()`` and ``swfd_workflows()`` build the registry; types are
   registered with SWF from it. The supervisor above it imports no plugin.
2. the generation forks the pools; in each child, before its first poll:
   ``swfd_worker_init(pool, kind)``.

What the handlers you return receive (see ``swfd.worker.ActivityTask`` and
``swfd.decider.DecisionTask``):

- an activity handler gets ``task.input`` (decoded per the codec),
  ``task.heartbeat(details)`` (returns at once; swfd's heartbeat thread sends it
  promptly, coalescing calls made while one is in flight, at most once per the
  pool's ``heartbeat_min_gap``, 1 s: a handler that heartbeats at least every
  second keeps alive any heartbeat timeout of 3 s or more, even one a decider
  set shorter than the type declares; a silent handler's task is kept alive
  every ``min(heartbeat_interval, declared heartbeat_timeout / 3)``; details
  are cut to SWF's 2,048 characters),
  ``task.cancel_requested`` (answer with ``raise swfd.Canceled(details)``),
  ``task.activity_id``, ``task.activity_type``, ``task.workflow_execution``,
  ``task.task_token``; its return value is the result (encoded per the codec);
  an exception fails the task with the exception as reason and the
  traceback as details.
- decision logic gets ``task.events`` (all pages, swfd's own retry markers and
  timers removed), ``task.history`` (``swfd.history.History`` over them),
  ``task.new_events``, ``task.raw_events``, ``task.input``,
  ``task.workflow_execution``, ``task.workflow_type``, ``task.attempt``; it
  returns ``swfd.Decisions``. An exception is recorded as a
  ``swfd:decider-error`` marker and the call is retried after a backoff timer;
  an execution input the codec cannot decode is recorded once and not retried
  until a new event (a signal) arrives (``decider_max_attempts`` fails it).
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "swfd"

hookspec = pluggy.HookspecMarker(PROJECT)
#: Mark a plugin function as a hook implementation: ``@swfd.hookimpl``.
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def swfd_configure(settings: Any) -> None:
    """Called once in the master after all plugins are imported, before any hook below.

    ``settings`` is the validated :class:`swfd.config.Settings` (or ``None`` when
    plugins are loaded without a config file, e.g. by tests). Use it to read
    the domain or region; the return value is ignored. Raising stops the
    daemon at start with the plugin named.
    """


@hookspec
def swfd_activities() -> list[Any]:
    """Called once in the master at start to collect the plugin's activity types.

    Return a list of definitions made with ``@swfd.activity`` (an empty list
    or ``None`` for none). Two plugins defining the same ``(name, version)``
    is an error naming both. Workers run only what some plugin returned here.
    """


@hookspec
def swfd_workflows() -> list[Any]:
    """Called once in the master at start to collect the plugin's workflow types.

    Return a list of definitions made with ``@swfd.workflow`` (an empty list
    or ``None`` for none). Deciders answer only decision tasks of workflow
    types some plugin returned here; others are left to time out (rolling
    deploys) and logged.
    """


@hookspec
def swfd_worker_init(pool: Any, kind: str) -> None:
    """Called in each child process right after the fork, before its first poll.

    ``pool`` is the child's :class:`swfd.config.PoolSettings`; ``kind`` is
    ``"worker"`` or ``"decider"``. Open per-process resources here (database
    connections, clients): anything made before the fork is shared with
    every child. The return value is ignored. Raising makes the child exit
    with status 1; the master respawns it with backoff, so a broken init does
    not spin.
    """
