"""A generation: one fresh interpreter that loads the config and the plugins, then forks the pools.

The supervisor (swfd.supervisor) starts each generation as a fork + exec of
``python -m swfd.generation``, so a reload runs the plugin code installed
*now*. Everything that can fail for a reason the operator must fix happens
here, before a single fork: logging, plugins, the registry against the pools,
imports of every module a child needs, botocore's SWF model. Then
``gc.freeze()`` so the children share those pages, and the arbiter
(swfd.arbiter) runs the registrar and the pools. A failure is reported to
the supervisor with its reason (``failed``) and ends this generation only:
on a reload, the generation already serving is untouched.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from functools import partial
from typing import Any

from swfd import logs
from swfd.arbiter.arbiter import Arbiter, ChildSpec
from swfd.arbiter.report import Reporter
from swfd.arbiter.respawn import Timing
from swfd.process import EXIT_ERROR, EXIT_USAGE, set_parent_death_signal

log = logging.getLogger("swfd.generation")

REGISTRAR_CALL_ATTEMPTS = 4


class StartupError(Exception):
    """The generation cannot start; ``exit_code`` 2 means the operator's config or plugins."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def build_arbiter(settings: Any, *, reporter: Reporter | None = None,
                  parent_lifeline: int | None = None, heartbeat: float | None = None,
                  timing: Timing | None = None) -> Arbiter:
    """Load and check everything, preload, freeze; return the arbiter ready to fork."""
    registry = load_registry(settings)
    check_pools(settings, registry)
    warn_short_graceful_timeout(settings, registry)
    preload()
    pools = [
        ChildSpec(
            name=pool.section,
            target=partial(pool_main, settings, pool, registry),
            processes=pool.processes,
            kind=pool.kind,
            give_up_after=pool.give_up_after,
        )
        for pool in settings.pools
    ]
    registrar = None
    if settings.register:
        registrar = ChildSpec("registrar", partial(registrar_main, settings, registry),
                              kind="registrar")
    timing = timing or Timing(min_uptime=settings.min_uptime)
    arbiter = Arbiter(pools, graceful_timeout=settings.graceful_timeout, registrar=registrar,
                      reporter=reporter, parent_lifeline=parent_lifeline, heartbeat=heartbeat,
                      timing=timing)
    gc.collect()
    gc.freeze()
    return arbiter


def load_registry(settings: Any) -> Any:
    from swfd.errors import SwfdError
    from swfd.plugins import load_plugins

    try:
        return load_plugins(settings)
    except SwfdError as exc:
        raise StartupError(f"plugin error: {exc}") from exc
    except Exception as exc:
        log.exception("loading plugins failed")
        raise StartupError(f"plugin error: {type(exc).__name__}: {exc}") from exc


def check_pools(settings: Any, registry: Any) -> None:
    """Warn about pools with nothing to run and types no pool serves (not errors:
    another host may serve them)."""
    served = {(p.kind, p.task_list) for p in settings.pools}
    for pool in settings.pools:
        defs = registry.activities if pool.kind == "worker" else registry.workflows
        if not any(d.task_list == pool.task_list for d in defs.values()):
            log.warning(
                "[%s] polls task list %r, but no loaded plugin declares a %s type on it",
                pool.section, pool.task_list,
                "activity" if pool.kind == "worker" else "workflow",
            )
    for kind, defs in (("worker", registry.activities), ("decider", registry.workflows)):
        for d in defs.values():
            if (kind, d.task_list) not in served:
                log.warning(
                    "%s %s %s uses task list %r, which no [%s:...] pool of this host polls",
                    "activity" if kind == "worker" else "workflow", d.name, d.version,
                    d.task_list, kind,
                )


def warn_short_graceful_timeout(settings: Any, registry: Any) -> None:
    """A drain lasts up to the poll timeout plus the longest task: say so when
    ``graceful_timeout`` cannot cover it (such tasks are failed with swfd-shutdown)."""
    from swfd.registry import seconds_or_none

    short = []
    for pool in settings.pools_of("worker"):
        timed = [(seconds_or_none(d.start_to_close_timeout), d)
                 for d in registry.activities.values() if d.task_list == pool.task_list]
        longest = max(((s, d) for s, d in timed if s is not None), default=None,
                      key=lambda pair: pair[0])
        if longest and settings.graceful_timeout < settings.poll_timeout + longest[0]:
            seconds, d = longest
            short.append(f"[{pool.section}] {d.name} {d.version} ({seconds:g} s)")
    if short:
        log.warning(
            "[swfd] graceful_timeout = %g s is below the poll timeout (%g s) plus the longest "
            "start-to-close of %s: a drain or reload may fail such a task with reason "
            "swfd-shutdown", settings.graceful_timeout, settings.poll_timeout,
            ", ".join(short),
        )


def preload() -> None:
    """Import what children run and load botocore's SWF model before forking."""
    try:
        import swfd.decider
        import swfd.swf.client
        import swfd.swf.registration
        import swfd.worker

        swfd.swf.client.preload_for_fork()
    except ImportError as exc:
        raise StartupError(f"swfd is incompletely installed: {exc}", EXIT_ERROR) from exc


def registrar_main(settings: Any, registry: Any, **_fds: Any) -> int:
    """Register the domain and every type; log the defaults that differ."""
    from swfd.swf.client import client_for
    from swfd.swf.models import retry_bounds
    from swfd.swf.registration import register_all

    set_parent_death_signal()
    logs.setup(settings.log_format, settings.log_level, pool="registrar")
    try:
        client = client_for(settings, max_pool_connections=1)
        # Each call retries briefly: the generation retries the whole registrar with
        # its own backoff and fails (exit 1) after Timing.registrar_attempts.
        with retry_bounds(max_attempts=REGISTRAR_CALL_ATTEMPTS):
            lines = register_all(client, settings.domain, registry, settings.retention_days)
    except Exception:
        log.exception("registering domain %r and its types failed", settings.domain)
        return EXIT_ERROR
    for line in lines:
        log.warning("registered type differs from the plugin's: %s", line)
    log.info(
        "domain %r: %d activity and %d workflow types registered", settings.domain,
        len(registry.activities), len(registry.workflows),
    )
    return 0


def pool_main(settings: Any, pool: Any, registry: Any, *, lifeline_fd: int | None = None,
              ready_fd: int | None = None) -> int:
    """A worker or decider process, right after the fork."""
    if pool.kind == "worker":
        from swfd.worker import ActivityPoller as poller
    else:
        from swfd.decider import DecisionPoller as poller
    return poller.main(settings, pool, registry, lifeline_fd=lifeline_fd, ready_fd=ready_fd)


def main(argv: list[str] | None = None) -> int:
    """``python -m swfd.generation``: what the supervisor execs for each generation."""
    parser = argparse.ArgumentParser(prog="swfd generation")
    parser.add_argument("--config", required=True)
    parser.add_argument("--number", type=int, required=True)
    parser.add_argument("--lifeline-fd", type=int)
    parser.add_argument("--report-fd", type=int)
    parser.add_argument("--heartbeat", type=float)
    parser.add_argument("--endpoint-clients-fd", type=int)
    args = parser.parse_args(argv)
    for fd in (args.lifeline_fd, args.report_fd, args.endpoint_clients_fd):
        if fd is not None:  # inherited by forked children, never by what plugins exec
            os.set_inheritable(fd, False)
    reporter = Reporter(args.report_fd)

    from swfd.config import ConfigError, load

    try:
        settings = load(args.config)
    except ConfigError as exc:
        print(f"swfd: configuration error: {exc}", file=sys.stderr)
        reporter.send("failed", reason=f"configuration error: {exc}", code=EXIT_USAGE)
        return EXIT_USAGE
    logs.setup(settings.log_format, settings.log_level, pool=f"generation-{args.number}")
    try:
        arbiter = build_arbiter(settings, reporter=reporter, parent_lifeline=args.lifeline_fd,
                                heartbeat=args.heartbeat)
    except StartupError as exc:
        log.error("%s", exc)
        reporter.send("failed", reason=str(exc), code=exc.exit_code)
        return exc.exit_code
    log.info("generation %d started (pid %d): %d pools", args.number, os.getpid(),
             len(settings.pools))
    reporter.send("booted")
    return arbiter.run()



if __name__ == "__main__":
    sys.exit(main())
