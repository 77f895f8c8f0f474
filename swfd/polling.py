"""What every pool child is: post-fork start-up, lifecycle, and the drain-aware poll loop.

:class:`PollingChild` is the one home of what workers and deciders share; the
activity worker (``swfd.worker.ActivityPoller``) and the decider
(``swfd.decider.DecisionPoller``) add only how to poll and what to do with a
task. In a forked child, :meth:`PollingChild.main` does, in order:

1. logging with the pool's name, signal handlers, the parent's lifeline;
2. the plugins' post-fork ``swfd_worker_init`` hook;
3. a boto3 client of its own (never one shared across a fork) and the identity;
4. the loop: report *ready* to the generation just before the first poll, then
   poll -> handle -> poll until draining. A poll error never ends the loop: see
   :class:`PollOutage` for how it is retried and logged.

What the child is doing is shown in its process title (swfd.proctitle) and
on the generation's scoreboard (swfd.scoreboard, read by ``swfd status``):
starting, polling, running a task (its ids, type and since when), draining;
tasks done and the last error (type and ids, never the message).
"""

from __future__ import annotations

import logging
import os
import random
import time
from typing import Any, ClassVar

from swfd import metrics
from swfd.lifecycle import Lifecycle
from swfd.process import EXIT_ERROR, EXIT_OK
from swfd.proctitle import set_title
from swfd.scoreboard import ScoreboardSlot

log = logging.getLogger(__name__)

POLL_RETRY_FIRST = 0.1
POLL_RETRY_CAP = 1.5
"""Transient errors (connection refused, throttling, 5xx) are retried at most this far
apart, so polls resume within 2 s of the endpoint answering again."""
POLL_REFUSED_CAP = 30.0
"""Errors a retry cannot fix soon (an unknown domain, denied access) back off to this."""


OUTAGE_REMINDER = 300.0
"""A long outage is logged again this often, with its length and last error."""


class PollOutage:
    """How a failing poll is retried and logged: one ERROR line when polls start
    failing, one WARNING line with the outage's length when they work again (and a
    reminder every ``OUTAGE_REMINDER`` seconds in between); never one per retry."""

    def __init__(self, operation: str, task_list: str) -> None:
        self.operation = operation
        self.task_list = task_list
        self.since: float | None = None
        self.failures = 0
        self.code: str | None = None
        self.next_reminder = 0.0

    def failed(self, error: BaseException) -> float:
        """Account for one failed poll; return the seconds to wait before the next."""
        from swfd.swf.retry import error_code, is_retryable, without_values

        now = time.monotonic()
        self.code = error_code(error)
        self.failures += 1
        transient = is_retryable(error, self.operation)
        if self.since is None:
            self.since, self.next_reminder = now, now + OUTAGE_REMINDER
            log.error("%s on task list %s failing (%s: %s); retrying %s until it answers",
                      self.operation, self.task_list, self.code, without_values(str(error)),
                      f"every {POLL_RETRY_CAP:g} s at most" if transient else
                      f"with a backoff up to {POLL_REFUSED_CAP:g} s")
        elif now >= self.next_reminder:
            self.next_reminder = now + OUTAGE_REMINDER
            log.error("%s on task list %s still failing after %.0f s (%d failed polls, last "
                      "%s: %s)", self.operation, self.task_list, now - self.since,
                      self.failures, self.code, without_values(str(error)))
        cap = POLL_RETRY_CAP if transient else POLL_REFUSED_CAP
        first = POLL_RETRY_FIRST if transient else 1.0
        return min(cap, first * 2 ** min(self.failures - 1, 10)) * random.uniform(0.5, 1.0)

    def recovered(self) -> None:
        if self.since is None:
            return
        log.warning("%s on task list %s works again after %.1f s (%d failed polls, last %s)",
                    self.operation, self.task_list, time.monotonic() - self.since,
                    self.failures, self.code)
        self.since, self.failures, self.code = None, 0, None


class PollingChild:
    """A worker or decider process's loop; ``run()`` returns the process exit code.

    ``ready_fd`` is the write end of the generation's readiness pipe: the child
    writes ``ready <pid>`` there once, right before its first poll. A reload
    switches generations only when every child of the new one has done so.
    """

    kind: ClassVar[str] = "child"
    poll_operation: ClassVar[str] = ""
    #: Whether botocore checks each request against the model before sending it.
    #: Off only where swfd builds every parameter itself (see ActivityPoller).
    validate_requests: ClassVar[bool] = True
    #: Whether a task's start and end are staged for a thread of the child's own to
    #: write (title and scoreboard) instead of written at once: the activity worker,
    #: whose heartbeat thread ticks while tasks come (see ``stage_task_end``).
    status_on_tick: ClassVar[bool] = False

    def __init__(self, settings: Any, pool: Any, registry: Any, lifecycle: Lifecycle,
                 client: Any, identity: str, ready_fd: int | None = None,
                 board: ScoreboardSlot | None = None) -> None:
        self.settings = settings
        self.pool = pool
        self.registry = registry
        self.lifecycle = lifecycle
        self.client = client
        self.identity = identity
        self.ready_fd = ready_fd
        self.tasks_done = 0
        self.board = board or ScoreboardSlot(None, 0, pool=getattr(pool, "section", None),
                                             slot=0)
        self.title = f"swfd {self.board.record.get('pool')} #{self.board.record.get('slot')}"
        self.state = ""
        self.task_title = ""
        self.task_since = 0.0

    # -- start-up after the fork -------------------------------------------------------

    @classmethod
    def main(cls, settings: Any, pool: Any, registry: Any, *, lifeline_fd: int | None = None,
             ready_fd: int | None = None, board: ScoreboardSlot | None = None) -> int:
        """Everything a freshly forked child of ``pool`` does; returns its exit code."""
        from swfd import logs

        if board is not None:
            set_title(f"swfd {pool.section} #{board.record.get('slot')} starting")
            board.update(pid=os.getpid(), kind=cls.kind, state="starting", since=time.time(),
                         tasks=0)
        logs.setup(settings.log_format, settings.log_level, pool=pool.section)
        lifecycle = Lifecycle()
        lifecycle.install_signal_handlers()
        if lifeline_fd is not None:
            lifecycle.watch_lifeline(lifeline_fd)
        return cls.start(settings, pool, registry, lifecycle, ready_fd=ready_fd, board=board)

    @classmethod
    def start(cls, settings: Any, pool: Any, registry: Any, lifecycle: Lifecycle, *,
              client: Any = None, ready_fd: int | None = None,
              board: ScoreboardSlot | None = None) -> int:
        """The plugins' ``swfd_worker_init``, a client, the identity, then :meth:`run`.

        ``client`` is for tests that run the loop in a thread; a real child builds
        its own from ``settings``.
        """
        from swfd.config import expand_identity

        if registry.pm is not None:
            try:
                registry.pm.hook.swfd_worker_init(pool=pool, kind=cls.kind)
            except Exception:  # reported; the generation respawns with a boot backoff
                log.exception("swfd_worker_init failed in %s pool %s", cls.kind, pool.name)
                return EXIT_ERROR
        if client is None:
            from swfd.swf.client import client_for

            client = client_for(settings, validate_params=cls.validate_requests)
        identity = expand_identity(settings.identity, pool.name)
        log.info("%s polling task list %s as %s", cls.kind, pool.task_list, identity)
        return cls(settings, pool, registry, lifecycle, client, identity, ready_fd,
                   board).run()

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> int:
        self.before_loop()
        outage = PollOutage(self.poll_operation, self.pool.task_list)
        while not self.lifecycle.draining:
            self.show_state("polling")
            self.report_ready()
            try:
                polled = self.poll()
            except Exception as exc:  # noqa: BLE001 - a poll error never ends the loop
                metrics.poll(self.pool.section, self.kind, "error")
                self.lifecycle.sleep(outage.failed(exc))
                continue
            outage.recovered()
            metrics.poll(self.pool.section, self.kind, "empty" if polled is None else "task")
            if polled is None:
                continue
            try:
                self.handle(polled)
            finally:
                self.tasks_done += 1
                # Back to polling, with the count: written now, or staged for the tick.
                self.show_state("polling", staged=self.stage_task_end(), task=None,
                                type=None, tasks=self.tasks_done)
            code = self.recycle_code()
            if code is not None:
                self.show_state("recycling")
                return code
        self.show_state("draining")
        log.info("%s draining (%s): no new polls; exiting", self.kind, self.lifecycle.reason)
        return EXIT_OK

    # -- what it is doing: title and scoreboard -------------------------------------------

    def show_state(self, state: str, *, staged: bool = False, **fields: Any) -> None:
        """``polling`` (idle), ``draining``, ``recycling``: title and scoreboard, written
        when the state changes or ``fields`` (e.g. the tasks done) come with it; the
        scoreboard only staged with ``staged`` (the title is unchanged then anyway when
        the task's own title was never shown)."""
        if state != self.state:
            metrics.child_state(self.pool.section, self.state, state)
            self.state = state
            set_title(f"{self.title} {'idle' if state == 'polling' else state}")
            fields["since"] = time.time()
        if fields:
            (self.board.stage if staged else self.board.update)(state=state, **fields)

    def stage_task_end(self) -> bool:
        """Whether the end of the task just done may be staged (see status_on_tick)."""
        return False

    def show_task(self, type_name: str, ids: dict[str, Any]) -> None:
        """A task in hand: its type and ids on the scoreboard; in the title, its type and
        age (and ids only with ``proctitle_tasks = yes``: ``ps`` is world-readable)."""
        metrics.child_state(self.pool.section, self.state, "running")
        self.state = "running"
        self.task_since = time.monotonic()
        shown = ""
        if getattr(self.settings, "proctitle_tasks", False):
            shown = " " + " ".join(f"{v}" for v in ids.values() if v)
        self.task_title = f"{self.title} {type_name}{shown}"
        if self.status_on_tick:  # shown by the first tick, if the task lasts that long
            self.board.stage(state="running", since=time.time(), type=type_name, task=ids)
            return
        set_title(f"{self.task_title} 0s")
        self.board.update(state="running", since=time.time(), type=type_name, task=ids)

    def show_task_age(self) -> None:
        """The task's title with its age, and what was staged for the scoreboard (called
        by the worker's heartbeat thread: at its first tick of a task, then once a
        second)."""
        if self.state == "running":
            set_title(f"{self.task_title} {time.monotonic() - self.task_since:.0f}s")
            self.board.flush()

    def note_error(self, error: BaseException, ids: dict[str, Any]) -> None:
        """The last error, for ``swfd status``: type, ids and time; never the message."""
        self.board.update(last_error={"type": type(error).__name__, "task": ids,
                                      "at": time.time()})

    def report_ready(self) -> None:
        """Tell the generation, once, that this child polls (its pool is serving)."""
        fd, self.ready_fd = self.ready_fd, None
        if fd is None:
            return
        try:
            os.write(fd, f"ready {os.getpid()}\n".encode())
        except OSError:  # the generation is gone: the lifeline will say so too
            pass
        finally:
            os.close(fd)

    # -- what subclasses define ----------------------------------------------------------

    def before_loop(self) -> None:
        """Start whatever the loop needs beside it (the worker's heartbeat thread)."""

    def poll(self) -> Any:
        """One long poll, not retried (``call(..., max_attempts=1, quiet=True)``: the
        loop retries and logs it); the task, or None when it returned empty."""
        raise NotImplementedError

    def handle(self, polled: Any) -> None:
        """Run the plugin's code on one task and answer SWF."""
        raise NotImplementedError

    def recycle_code(self) -> int | None:
        """An exit code when this process should be replaced after the task it finished."""
        return None
