"""Where a call of the local endpoint spends its CPU: the tools behind bench/README.md's
endpoint section (not a figure of ``bench.run``; nothing here is a dependency).

``python -m bench.endpoint_cost phases [SECONDS]``
    ``swfd local``'s server in this process under figure 7d's load (its
    featherweight client processes, the server pinned to one core as there):
    the CPU (``time.thread_time``) of each phase of a request, per operation of
    the 7-call cycle. Each phase is timed by wrapping the function that does
    it, so the figures carry a wrapper's cost (well under a microsecond each);
    "other" is what no wrapper covers (the blocking read of the next request,
    deadlines, dispatch).

``python -m bench.endpoint_cost instructions [SOURCE ...]``
    User-space instructions per call of ``swfd local`` from each source tree
    (default: this one), under ``valgrind --tool=callgrind``, serving the cycle
    from one featherweight client: the difference between 250 and 50 cycles,
    so start-up cancels out. Deterministic to ~0.1 %: it settles what CPU
    times on a shared machine cannot (it leaves out the kernel: sockets, WAL
    writes, context switches).
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from bench.fig_ceiling import CALLS_PER_CYCLE, ceiling
from bench.fig_endpoint import cycle, setup
from bench.procs import free_port, wait_port
from bench.wire import RawClient

# (module, owner, function, phase): the request's phases, in the order of the table.
PHASES = (
    ("swfd.local.protocol", "_Handler", "_plain_post", "head"),
    ("swfd.local.protocol", "_Handler", "parse_request", "head"),
    ("swfd.local.protocol", "_Handler", "_read_body", "body"),
    ("swfd.local.protocol", None, "_decode", "JSON in"),
    ("swfd.local.protocol", "_Handler", "_authenticate", "region"),
    ("swfd.local.protocol", None, "validate", "validate"),
    ("swfd.local.protocol", "_Server", "enter", "in flight"),
    ("swfd.local.protocol", "_Server", "leave", "in flight"),
    ("swfd.local.engine", "Engine", "call", "engine"),
    ("swfd.local.engine", "Engine", "flush", "write"),
    ("swfd.local.store", "Store", "save_execution", "execution"),
    ("swfd.local.store", "Store", "commit", "commit"),
    ("swfd.local.protocol", None, "encode", "JSON out"),
    ("swfd.local.protocol", "_Handler", "_send", "send"),
)
COLUMNS = ("total", "head", "body", "JSON in", "region", "validate", "in flight", "engine",
           "write", "execution", "commit", "JSON out", "send", "other")


def _wrap_phases(local: threading.local) -> None:
    """Wrap each function of PHASES so its thread CPU adds to ``local.phases``."""
    import importlib

    for module_name, owner_name, name, phase in PHASES:
        module = importlib.import_module(module_name)
        owner = getattr(module, owner_name) if owner_name else module
        original = getattr(owner, name, None)
        if original is None:  # an older tree without this function
            continue

        def timed(*args, _original=original, _phase=phase, **kwargs):
            started = time.thread_time_ns()
            try:
                return _original(*args, **kwargs)
            finally:
                phases = getattr(local, "phases", None)
                if phases is not None:
                    phases[_phase] += time.thread_time_ns() - started

        setattr(owner, name, timed)


def phases(seconds: float) -> int:
    from swfd.local import protocol
    from swfd.local.server import LocalEndpoint

    spent: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    calls: collections.Counter = collections.Counter()
    local = threading.local()
    measuring = threading.Event()
    _wrap_phases(local)
    one_request = protocol._Handler.handle_one_request

    def handle_one_request(self) -> None:
        local.phases = collections.Counter()
        started = time.thread_time_ns()
        one_request(self)
        total = time.thread_time_ns() - started
        headers = getattr(self, "headers", None)
        if not measuring.is_set() or not isinstance(headers, dict):
            return
        operation = headers.get("x-amz-target", "?").rpartition(".")[2]
        local.phases["total"] = total
        spent[operation].update(local.phases)
        calls[operation] += 1

    protocol._Handler.handle_one_request = handle_one_request
    tmp = tempfile.mkdtemp(prefix="swfd-bench-phases-")
    endpoint = LocalEndpoint(database=os.path.join(tmp, "local.sqlite3"),
                             poll_timeout=60).start()
    try:
        setup(endpoint.url)
        threading.Timer(2.0, measuring.set).start()  # after ceiling()'s warm-up
        m = ceiling(endpoint.url, os.getpid(), seconds)
        measuring.clear()
    finally:
        endpoint.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if m["errors"]:
        print(f"client errors: {m['errors'][:2]}", file=sys.stderr)
        return 1
    print(f"{m['calls']} calls in the window, {m['cpu_ms_per_call']:.3f} ms CPU per call "
          f"(the whole process), load average {os.getloadavg()[0]:.1f}; microseconds of "
          "thread CPU per call:")
    print("| operation | calls | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    overall: collections.Counter = collections.Counter()
    for operation in sorted(calls, key=lambda op: -calls[op]) + ["all"]:
        if operation == "all":
            row, count = overall, sum(calls.values())
        else:
            row, count = spent[operation], calls[operation]
            overall.update(row)
        covered = sum(row[p] for p in COLUMNS if p not in ("total", "execution", "commit",
                                                             "write", "other"))
        row = collections.Counter(row)
        row["other"] = row["total"] - covered
        print(f"| {operation} | {count} | "
              + " | ".join(f"{row[p] / count / 1000:.1f}" for p in COLUMNS) + " |")
    return 0


def _instructions(source: str, cycles: int) -> int:
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="swfd-bench-callgrind-")
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         "-m", "swfd.cli", "local", "--host", "127.0.0.1", "--port", str(port),
         "--database", os.path.join(tmp, "local.sqlite3"), "--poll-timeout", "60"],
        cwd=source, env={**os.environ, "PYTHONPATH": source},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port("127.0.0.1", port, 300, proc)
        url = f"http://127.0.0.1:{port}"
        setup(url)
        client = RawClient(url)
        for _ in range(cycles):
            cycle(client, "callgrind")
        client.close()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    found = re.search(rb"Collected : (\d+)", err)
    if found is None:
        raise RuntimeError(f"no instruction count from callgrind: {err[-300:]!r}")
    return int(found.group(1))


def instructions(sources: list[str]) -> int:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 1
    for source in sources:
        few, many = _instructions(source, 50), _instructions(source, 250)
        print(f"{source}: {(many - few) / 200 / CALLS_PER_CYCLE:,.0f} instructions per call "
              "(server, user space)")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["phases"]:
        return phases(float(argv[1]) if len(argv) > 1 else 8.0)
    if argv[:1] == ["instructions"]:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        return instructions([os.path.abspath(s) for s in argv[1:]] or [root])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
