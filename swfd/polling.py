"""What every pool child is: post-fork start-up, lifecycle, and the drain-aware poll loop.

:class:`PollingChild` is the one home of what workers and deciders share; the
activity worker (``swfd.worker.ActivityPoller``) and the decider
(``swfd.decider.DecisionPoller``) add only how to poll and what to do with a
task. In a forked child, :meth:`PollingChild.main` does, in order:

1. logging with the pool's name, signal handlers, the parent's lifeline;
2. the plugins' post-fork ``swfd_worker_init`` hook;
3. a boto3 client of its own (never one shared across a fork) and the identity;
4. the loop: report *ready* to the generation just before the first poll, then
   poll -> handle -> poll until draining. A poll error never ends the loop: it
   is logged and retried with a backoff that a drain cuts short.
"""

from __future__ import annotations

import logging
import os
from typing import Any, ClassVar

from swfd.lifecycle import Lifecycle
from swfd.process import EXIT_ERROR, EXIT_OK

log = logging.getLogger(__name__)

POLL_BACKOFF_FIRST = 1.0
POLL_BACKOFF_MAX = 30.0


class PollingChild:
    """A worker or decider process's loop; ``run()`` returns the process exit code.

    ``ready_fd`` is the write end of the generation's readiness pipe: the child
    writes ``ready <pid>`` there once, right before its first poll. A reload
    switches generations only when every child of the new one has done so.
    """

    kind: ClassVar[str] = "child"
    poll_operation: ClassVar[str] = ""

    def __init__(self, settings: Any, pool: Any, registry: Any, lifecycle: Lifecycle,
                 client: Any, identity: str, ready_fd: int | None = None) -> None:
        self.settings = settings
        self.pool = pool
        self.registry = registry
        self.lifecycle = lifecycle
        self.client = client
        self.identity = identity
        self.ready_fd = ready_fd
        self.tasks_done = 0

    # -- start-up after the fork -------------------------------------------------------

    @classmethod
    def main(cls, settings: Any, pool: Any, registry: Any, *, lifeline_fd: int | None = None,
             ready_fd: int | None = None) -> int:
        """Everything a freshly forked child of ``pool`` does; returns its exit code."""
        from swfd import logs

        logs.setup(settings.log_format, settings.log_level, pool=pool.section)
        lifecycle = Lifecycle()
        lifecycle.install_signal_handlers()
        if lifeline_fd is not None:
            lifecycle.watch_lifeline(lifeline_fd)
        return cls.start(settings, pool, registry, lifecycle, ready_fd=ready_fd)

    @classmethod
    def start(cls, settings: Any, pool: Any, registry: Any, lifecycle: Lifecycle, *,
              client: Any = None, ready_fd: int | None = None) -> int:
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

            client = client_for(settings)
        identity = expand_identity(settings.identity, pool.name)
        log.info("%s polling task list %s as %s", cls.kind, pool.task_list, identity)
        return cls(settings, pool, registry, lifecycle, client, identity, ready_fd).run()

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> int:
        self.before_loop()
        failures = 0
        while not self.lifecycle.draining:
            self.report_ready()
            try:
                polled = self.poll()
                failures = 0
            except Exception as exc:  # noqa: BLE001 - a poll error never ends the loop
                failures += 1
                self.back_off(exc, failures)
                continue
            if polled is None:
                continue
            self.handle(polled)
            self.tasks_done += 1
            code = self.recycle_code()
            if code is not None:
                return code
        log.info("%s draining (%s): no new polls; exiting", self.kind, self.lifecycle.reason)
        return EXIT_OK

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

    def back_off(self, error: BaseException, failures: int) -> None:
        """Log a poll that failed past the retry policy and wait before the next one.

        The wait doubles from 1 s to 30 s with consecutive ``failures``; a drain or
        stop cuts it short.
        """
        from swfd.swf.retry import error_code

        wait = min(POLL_BACKOFF_MAX, POLL_BACKOFF_FIRST * 2 ** min(failures - 1, 6))
        log.error("%s on task list %s failed (%s: %s); retrying in %.1f s",
                  self.poll_operation, self.pool.task_list, error_code(error), error, wait)
        self.lifecycle.sleep(wait)

    # -- what subclasses define ----------------------------------------------------------

    def before_loop(self) -> None:
        """Start whatever the loop needs beside it (the worker's heartbeat thread)."""

    def poll(self) -> Any:
        """One long poll; the task, or None when it returned empty."""
        raise NotImplementedError

    def handle(self, polled: Any) -> None:
        """Run the plugin's code on one task and answer SWF."""
        raise NotImplementedError

    def recycle_code(self) -> int | None:
        """An exit code when this process should be replaced after the task it finished."""
        return None
