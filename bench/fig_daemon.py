"""Figures 5 and 8: the real daemon (``swfd --config``, embedded endpoint, worker pool).

Start-up: from spawning ``swfd --config`` to its sd_notify ``READY=1`` on a
NOTIFY_SOCKET datagram socket we create, with 8 worker children.

Drain: SIGTERM to the master's exit, idle and with N one-second tasks in
hand; then the endpoint is started again on the same SQLite file and the
tasks' ActivityTaskCompleted events are counted: tasks lost must be 0.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from bench import driver
from bench.procs import children_of, die_with_parent, free_port
from bench.results import Results
from bench.tasks import SLEEP_NAME

POLL_TIMEOUT = 2.0
TASK_LIST = "bench"


def master_available() -> str | None:
    """Why the daemon cannot be measured, or None."""
    try:
        import swfd.master  # noqa: F401
        from swfd.master import run  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return f"swfd.master not available ({type(exc).__name__}: {exc})"
    return None


def write_config(tmpdir: str, port: int, processes: int) -> str:
    path = os.path.join(tmpdir, "swfd.ini")
    with open(path, "w") as f:
        f.write(f"""[swfd]
domain = bench
region = us-east-1
endpoint_url = embedded
identity = bench:{{pid}}:{{pool}}
plugins =
graceful_timeout = {POLL_TIMEOUT + 10:g}
log_format = text
log_level = WARNING

[embedded]
host = 127.0.0.1
port = {port}
database = {os.path.join(tmpdir, "local.sqlite3")}
poll_timeout = {POLL_TIMEOUT:g}

[worker:bench]
task_list = {TASK_LIST}
processes = {processes}
heartbeat_interval = 30
""")
    return path


class Daemon:
    """One ``swfd --config`` master we started, with its NOTIFY_SOCKET."""

    def __init__(self, processes: int) -> None:
        self.tmpdir = tempfile.mkdtemp(prefix="swfd-bench-daemon-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = write_config(self.tmpdir, self.port, processes)
        self.database = os.path.join(self.tmpdir, "local.sqlite3")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock_path = os.path.join(self.tmpdir, "notify.sock")
        self.sock.bind(self.sock_path)
        self.log = os.path.join(self.tmpdir, "swfd.log")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> float:
        """Spawn the master; returns seconds until READY=1."""
        env = driver.bench_env(SWFD_PLUGINS="bench.swfd_plugin", NOTIFY_SOCKET=self.sock_path)
        t0 = time.monotonic()
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "swfd.cli", "--config",
                                          self.config], stdout=out, stderr=subprocess.STDOUT,
                                         env=env, cwd=driver.ROOT,
                                         preexec_fn=die_with_parent)  # noqa: PLW1509
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, min(0.5, deadline - time.monotonic())))
            try:
                data = self.sock.recv(4096).decode(errors="replace")
            except socket.timeout:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"swfd exited with {self.proc.returncode} before READY=1:"
                                       f" {self.tail()}") from None
                continue
            if "READY=1" in data.split("\n"):
                return time.monotonic() - t0
        raise TimeoutError(f"no READY=1 within {timeout:.0f} s: {self.tail()}")

    def drain(self, timeout: float = 60.0) -> tuple[float, int]:
        """SIGTERM; returns (seconds to exit, exit code)."""
        assert self.proc is not None
        t0 = time.monotonic()
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimeoutError(f"swfd did not exit within {timeout:.0f} s of SIGTERM") from None
        return time.monotonic() - t0, code

    def kill(self) -> None:
        """Last resort: SIGKILL the master's children and the master (ours, by pid)."""
        if self.proc is not None and self.proc.poll() is None:
            for pid in children_of(self.proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.kill()
            self.proc.wait(10)

    def tail(self) -> str:
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-600:]
        except OSError:
            return ""

    def close(self) -> None:
        self.kill()
        self.sock.close()


def startup(res: Results, runs: int) -> None:
    times, children = [], []
    for _ in range(runs):
        daemon = Daemon(processes=8)
        try:
            times.append(daemon.start())
            assert daemon.proc is not None
            children.append(len(children_of(daemon.proc.pid)))
            # Right after READY a child may not have sent its first poll yet (and would
            # exit at once): let every worker settle into a long poll first.
            time.sleep(POLL_TIMEOUT + 1.0)
            seconds, code = daemon.drain()
            res.log(f"  start-up {times[-1]:.2f} s, children {children[-1]}; idle drain "
                    f"{seconds:.2f} s (exit {code})")
            res.series.setdefault("drain_idle", []).append(seconds)
        finally:
            daemon.close()
    res.add("8. start-up", "swfd --config to READY=1, 8 worker children", statistics.median(
        times), "s", note=f"median of {runs}: {', '.join(f'{t:.2f}' for t in times)} s; "
        f"embedded endpoint + registrar first; {children[0]} children at READY")
    idle = res.series["drain_idle"]
    res.add("5. drain", "SIGTERM to exit, idle (8 workers)", statistics.median(idle), "s",
            note=f"median of {len(idle)}, SIGTERM {POLL_TIMEOUT + 1:g} s after READY; each worker "
            f"waits for its outstanding long poll (poll_timeout {POLL_TIMEOUT:g} s here; "
            "SWF's is 60 s, so expect up to 60 s there)")


def drain_in_hand(res: Results, n: int) -> None:
    daemon = Daemon(processes=n)
    try:
        daemon.start()
        swf = driver.client(daemon.url)
        driver.setup_domain(swf, "bench")
        fed = driver.feed(swf, "bench", TASK_LIST, n, activity=SLEEP_NAME)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # every task taken by a worker
            pending = swf.count_pending_activity_tasks(domain="bench",
                                                       taskList={"name": TASK_LIST})["count"]
            if pending == 0:
                break
            time.sleep(0.02)
        seconds, code = daemon.drain()
        if code != 0:
            res.log(f"  daemon log: {daemon.tail()}")
    finally:
        daemon.close()
    # The daemon and its endpoint are gone: read the outcome from the same database.
    endpoint = driver.start_local(POLL_TIMEOUT, database=daemon.database)
    try:
        completed = driver.count_completed(driver.client(endpoint.url), fed)
    finally:
        endpoint.stop()
    lost = n - completed
    res.add("5. drain", f"SIGTERM to exit, {n} one-second tasks in hand", seconds, "s",
            note=f"exit code {code}; {completed}/{n} tasks completed")
    res.add("5. drain", "tasks lost in that drain", lost, "tasks", target="0", met=lost == 0,
            note="counted from the endpoint's database after the daemon exited")


def run(res: Results, quick: bool) -> None:
    why = master_available()
    if why:
        res.missing("5. drain", "swfd daemon", why)
        res.missing("8. start-up", "swfd daemon", why)
        return
    res.guarded("8. start-up / 5. idle drain", lambda: startup(res, 2 if quick else 5))
    res.guarded("5. drain with tasks in hand", lambda: drain_in_hand(res, 4))
