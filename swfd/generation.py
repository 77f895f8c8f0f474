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
import dataclasses
import gc
import logging
import os
import sys
import time
from functools import partial
from typing import Any

from swfd import logs, metrics
from swfd.arbiter.arbiter import Arbiter, ChildSpec
from swfd.arbiter.report import Reporter
from swfd.arbiter.respawn import Timing
from swfd.process import EXIT_ERROR, EXIT_USAGE, set_parent_death_signal
from swfd.proctitle import set_title

log = logging.getLogger("swfd.generation")

REGISTRAR_CALL_ATTEMPTS = 4


class StartupError(Exception):
    """The generation cannot start; ``exit_code`` 2 means the operator's config or plugins."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def build_arbiter(settings: Any, *, reporter: Reporter | None = None,
                  parent_lifeline: int | None = None, heartbeat: float | None = None,
                  timing: Timing | None = None, scoreboard: Any = None,
                  number: int = 0) -> Arbiter:
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
            max_processes=pool.processes_max,
            scale_down_delay=pool.scale_down_delay,
        )
        for pool in settings.pools
    ]
    scaled = [pool for pool in settings.pools if pool.processes_max is not None]
    scaler = None
    if scaled:
        scaler = ChildSpec("scaler", partial(scaler_main, settings, scaled), kind="scaler")
    registrar = None
    if settings.register:
        registrar = ChildSpec("registrar", partial(registrar_main, settings, registry),
                              kind="registrar")
    timing = timing or Timing(min_uptime=settings.min_uptime)
    arbiter = Arbiter(pools, graceful_timeout=settings.graceful_timeout, registrar=registrar,
                      reporter=reporter, parent_lifeline=parent_lifeline, heartbeat=heartbeat,
                      timing=timing, scoreboard=scoreboard, scaler=scaler, name=f"g{number}")
    gc.collect()
    gc.freeze()
    return arbiter


SCOREBOARD_HEADROOM = 64
"""Records beyond the configured processes, for TTIN."""


def open_scoreboard(state_dir: str | None, number: int, settings: Any) -> Any:
    """This generation's scoreboard in the supervisor's state directory (None without one)."""
    from swfd.scoreboard import Scoreboard

    if not state_dir:
        return None
    slots = sum(pool.processes_max or pool.processes for pool in settings.pools)
    slots += SCOREBOARD_HEADROOM
    try:
        return Scoreboard.create(os.path.join(state_dir, f"scoreboard-{number}"), slots)
    except OSError as exc:
        log.warning("no scoreboard for swfd status: %s", exc)
        return None


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
    another host may serve them); ``swfd check`` reports the same."""
    from swfd.registry import pool_coverage

    for problem in pool_coverage(settings, registry):
        log.warning("%s", problem["detail"])


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
    set_title("swfd registrar")
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


def scaler_main(settings: Any, pools: list[Any], *, lifeline_fd: int | None = None,
                ready_fd: int | None = None, **_: Any) -> int:
    """The one process that counts the backlog of the autoscaled pools (so children and
    the generation make no such calls): every ``scale_interval`` it asks SWF
    (CountPendingActivityTasks / CountPendingDecisionTasks; approximate and throttled
    on AWS) and tells the generation ``backlog POOL N`` on the readiness pipe."""
    from swfd.lifecycle import Lifecycle
    from swfd.polling import PollOutage
    from swfd.swf.client import client_for
    from swfd.swf.retry import call

    set_title("swfd scaler")
    logs.setup(settings.log_format, settings.log_level, pool="scaler")
    lifecycle = Lifecycle()
    lifecycle.install_signal_handlers()
    if lifeline_fd is not None:
        lifecycle.watch_lifeline(lifeline_fd)
    client = client_for(settings, max_pool_connections=1)
    outages = {pool.section: PollOutage(f"Count pending tasks of {pool.section}",
                                        pool.task_list) for pool in pools}
    due = dict.fromkeys(outages, 0.0)
    while not lifecycle.draining:
        for pool in pools:
            if time.monotonic() < due[pool.section]:
                continue
            due[pool.section] = time.monotonic() + pool.scale_interval
            operation = ("CountPendingActivityTasks" if pool.kind == "worker"
                         else "CountPendingDecisionTasks")
            try:
                count = call(client, operation, max_attempts=1, quiet=True,
                             domain=settings.domain, taskList={"name": pool.task_list})["count"]
            except Exception as exc:  # noqa: BLE001 - logged once per outage; sizes stay
                outages[pool.section].failed(exc)
                continue
            outages[pool.section].recovered()
            if ready_fd is not None:
                try:
                    os.write(ready_fd, f"backlog {pool.section} {int(count)}\n".encode())
                except OSError:
                    return 0  # the generation is gone
        lifecycle.sleep(max(0.1, min(due.values()) - time.monotonic()))
    return 0


def pool_main(settings: Any, pool: Any, registry: Any, *, lifeline_fd: int | None = None,
              ready_fd: int | None = None, board: Any = None) -> int:
    """A worker or decider process, right after the fork."""
    if pool.kind == "worker":
        from swfd.worker import ActivityPoller as poller
    else:
        from swfd.decider import DecisionPoller as poller
    return poller.main(settings, pool, registry, lifeline_fd=lifeline_fd, ready_fd=ready_fd,
                       board=board)


def main(argv: list[str] | None = None) -> int:
    """``python -m swfd.generation``: what the supervisor execs for each generation."""
    parser = argparse.ArgumentParser(prog="swfd generation")
    parser.add_argument("--config", required=True)
    parser.add_argument("--number", type=int, required=True)
    parser.add_argument("--lifeline-fd", type=int)
    parser.add_argument("--report-fd", type=int)
    parser.add_argument("--heartbeat", type=float)
    parser.add_argument("--endpoint-clients-fd", type=int)
    parser.add_argument("--endpoint-port", type=int,
                        help="the port the embedded endpoint bound ([embedded] port = 0)")
    parser.add_argument("--state-dir", help="the supervisor's directory for the scoreboard")
    args = parser.parse_args(argv)
    set_title(f"swfd generation {args.number}")
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
    if args.endpoint_port and settings.is_embedded:
        settings = dataclasses.replace(settings, embedded=dataclasses.replace(
            settings.embedded, port=args.endpoint_port))
    logs.setup(settings.log_format, settings.log_level, pool=f"generation-{args.number}")
    metrics_dir = os.environ.get(metrics.ENV_DIR)
    if metrics_dir and not metrics.enable(metrics_dir, f"g{args.number}-generation"):
        log.warning("[swfd] metrics is set but prometheus_client is not installed: "
                    "pip install 'swfd[metrics]'")
    metrics.generation_started()
    try:
        arbiter = build_arbiter(settings, reporter=reporter, parent_lifeline=args.lifeline_fd,
                                heartbeat=args.heartbeat, number=args.number,
                                scoreboard=open_scoreboard(args.state_dir, args.number, settings))
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
