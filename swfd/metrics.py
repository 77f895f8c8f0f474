"""Prometheus metrics (``[swfd] metrics = 127.0.0.1:9464``), in multiprocess mode.

Off by default, and then every function here is a no-op that imports nothing.
When on (``pip install swfd[metrics]``), the supervisor owns a directory in its
state directory, wiped at start, and an exporter process that serves what every
process wrote there (prometheus_client's MultiProcessCollector). Each process
writes its own files, named by its *place* rather than its pid
(``g3-worker:images-2``): a child respawned into the same slot carries on its
predecessor's counters, so a kill loop neither piles up files nor resets
totals, and the live gauges of a dead child are removed when it is reaped.

The metric names follow Prometheus conventions; labels carry pools, type names,
versions, operations and outcomes, never a task id or a payload.
"""

from __future__ import annotations

import os
from typing import Any

ENV_DIR = "SWFD_METRICS_DIR"
"""Set by the supervisor for the generations it starts: where the files go."""

_identity = {"id": f"pid-{os.getpid()}"}
_m: dict[str, Any] = {}

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
                    900, 3600)


def enabled() -> bool:
    return bool(_m)


def enable(directory: str, identity: str) -> bool:
    """Write metrics to ``directory`` as ``identity``; False when prometheus_client is
    not installed (the caller says so once)."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        from prometheus_client import Counter, Gauge, Histogram, values
    except ImportError:
        return False
    _identity["id"] = identity
    values.ValueClass = values.MultiProcessValue(lambda: _identity["id"])
    _m.update(
        tasks=Counter("swfd_tasks", "Tasks answered (or not), by outcome.",
                      ["pool", "kind", "type", "version", "outcome"]),
        duration=Histogram("swfd_task_duration_seconds",
                           "Time in the activity handler or the decision logic.",
                           ["pool", "kind", "type", "version"], buckets=DURATION_BUCKETS),
        schedule_to_start=Histogram(
            "swfd_schedule_to_start_seconds",
            "Decision tasks: from DecisionTaskScheduled to the poll that got the task.",
            ["pool"], buckets=DURATION_BUCKETS),
        polls=Counter("swfd_polls", "Long polls, by outcome (task, empty, error).",
                      ["pool", "kind", "outcome"]),
        retries=Counter("swfd_swf_retries", "SWF calls retried, by operation and error code.",
                        ["operation", "code"]),
        heartbeats=Counter("swfd_heartbeats", "Activity heartbeats, by outcome (sent, failed).",
                           ["pool", "outcome"]),
        respawns=Counter("swfd_respawns",
                         "Pool children replaced, by reason (served, boot_failure, recycle).",
                         ["pool", "reason"]),
        boot_failures=Counter("swfd_boot_failures",
                              "Children that died before they were ready (or within "
                              "min_uptime).", ["pool"]),
        children=Gauge("swfd_children", "Pool children by state.", ["pool", "state"],
                       multiprocess_mode="livesum"),
        decider_errors=Counter("swfd_decider_errors",
                               "Decision logic that raised (recorded as markers).",
                               ["pool", "type", "version"]),
        history_cache=Counter("swfd_decider_history_cache",
                              "Decisions of runs already begun, by outcome: hit (the "
                              "process's cached events joined the poll's), miss (fetched "
                              "with GetWorkflowExecutionHistory).", ["pool", "outcome"]),
        generations=Counter("swfd_generations_started", "Generations started."),
        reloads=Counter("swfd_reloads", "Reloads, by outcome (ok, failed).", ["outcome"]),
    )
    return True


def set_identity(identity: str) -> None:
    """In a child just forked: write to this place's files from now on."""
    _identity["id"] = identity


def process_dead(identity: str) -> None:
    """A child was reaped: its live gauges no longer count."""
    if _m:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(identity)


def task(pool: str, kind: str, name: str, version: str, outcome: str,
         seconds: float | None = None) -> None:
    if _m:
        _m["tasks"].labels(pool, kind, name, version, outcome).inc()
        if seconds is not None:
            _m["duration"].labels(pool, kind, name, version).observe(seconds)


def poll(pool: str, kind: str, outcome: str) -> None:
    if _m:
        _m["polls"].labels(pool, kind, outcome).inc()


def schedule_to_start(pool: str, seconds: float) -> None:
    if _m and seconds >= 0:
        _m["schedule_to_start"].labels(pool).observe(seconds)


def retry(operation: str, code: str) -> None:
    if _m:
        _m["retries"].labels(operation, code).inc()


def heartbeat(pool: str, outcome: str) -> None:
    if _m:
        _m["heartbeats"].labels(pool, outcome).inc()


def respawn(pool: str, reason: str) -> None:
    if _m:
        _m["respawns"].labels(pool, reason).inc()
        if reason == "boot_failure":
            _m["boot_failures"].labels(pool).inc()


def child_state(pool: str, old: str | None, new: str) -> None:
    if _m:
        if old:
            _m["children"].labels(pool, old).set(0)
        _m["children"].labels(pool, new).set(1)


def decider_error(pool: str, name: str, version: str) -> None:
    if _m:
        _m["decider_errors"].labels(pool, name, version).inc()


def history_cache(pool: str, outcome: str) -> None:
    if _m:
        _m["history_cache"].labels(pool, outcome).inc()


def generation_started() -> None:
    if _m:
        _m["generations"].inc()


def reload(outcome: str) -> None:
    if _m:
        _m["reloads"].labels(outcome).inc()


def serve(address: str, directory: str) -> Any:
    """The exporter: an HTTP server on ``address`` (HOST:PORT) that sums every file in
    ``directory``. Returns the server (``serve_forever``); raises OSError on bind."""
    from http.server import ThreadingHTTPServer

    from prometheus_client import CollectorRegistry, multiprocess
    from prometheus_client.exposition import MetricsHandler

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    host, _, port = address.rpartition(":")
    handler = MetricsHandler.factory(registry)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    return Server((host.strip("[]") or "127.0.0.1", int(port)), handler)


def main(argv: list[str] | None = None) -> int:
    """``python -m swfd.metrics ADDRESS DIR READY_FD LIFELINE_FD``: what the supervisor runs."""
    import sys
    import threading

    from swfd.lifeline import watch
    from swfd.proctitle import set_title

    address, directory, ready_fd, lifeline_fd = (argv or sys.argv[1:])[:4]
    set_title(f"swfd metrics {address}")
    try:
        server = serve(address, directory)
    except (OSError, ValueError) as exc:
        os.write(int(ready_fd), f"error cannot serve metrics on {address}: {exc}\n".encode())
        return 2
    except ImportError:
        os.write(int(ready_fd), b"error prometheus_client is not installed: "
                                b"pip install 'swfd[metrics]'\n")
        return 2
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor stops it, last
    watch(int(lifeline_fd), stop.set, name="swfd-metrics-lifeline")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    os.write(int(ready_fd), f"ready http://{host}:{port}/metrics\n".encode())
    os.close(int(ready_fd))
    while not stop.wait(3600):
        pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
