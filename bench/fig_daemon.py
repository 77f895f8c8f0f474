"""Figures 5, 8 and 9: the real daemon (``swfd --config``, embedded endpoint, worker pool).

Start-up: from spawning ``swfd --config`` to its sd_notify ``READY=1`` on a
NOTIFY_SOCKET datagram socket we create, with 8 worker children.

Drain: SIGTERM to the supervisor's exit, idle and with N one-second tasks in
hand; then the endpoint is started again on the same SQLite file and the
tasks' ActivityTaskCompleted events are counted: tasks lost must be 0.

Idle: ``etc/swfd-local.ini`` as shipped (tutorial plugin, 2 deciders and 5
workers, poll_timeout 5 s) but on a free loopback port with its database and
pidfile in a temp dir; after READY=1 and 3 s to settle, the on-CPU time of
every process of the tree (supervisor, endpoint, generation, pool children)
over a window.
"""

from __future__ import annotations

import configparser
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from bench import driver
from bench.procs import (
    CLK_TCK,
    all_stats,
    cmdline,
    comm,
    die_with_parent,
    free_port,
    read_stat,
    thread_ns,
    tree_pids,
    voluntary_switches,
)
from bench.results import Results
from bench.tasks import SLEEP_NAME

POLL_TIMEOUT = 2.0
TASK_LIST = "bench"
SHIPPED_CONFIG = os.path.join(driver.ROOT, "etc", "swfd-local.ini")
#: Seconds after READY=1 before figure 9's window, on top of one long poll: every
#: poller's first poll has come back empty by then. That first answer carries one-time
#: costs (botocore resolving the output shape, swfd compiling its parser for it: ~3 ms
#: for PollForDecisionTask, measured) that are start-up, not idle.
IDLE_SETTLE = 3.0
IDLE_TARGET = 0.5  # % of one core, the whole tree


def daemon_available() -> str | None:
    """Why the daemon cannot be measured, or None."""
    try:
        from swfd.supervisor import run  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return f"swfd.supervisor not available ({type(exc).__name__}: {exc})"
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


def write_shipped_config(tmpdir: str, port: int, source: str = SHIPPED_CONFIG) -> str:
    """``source`` (etc/swfd-local.ini) with only these changed: the endpoint on a free
    127.0.0.1 port, its database and the pidfile (hence the control socket) in ``tmpdir``.
    Every other value, poll_timeout and log_level included, is the shipped one."""
    parser = configparser.ConfigParser(interpolation=None)
    if not parser.read(source):
        raise FileNotFoundError(source)
    parser["embedded"]["host"] = "127.0.0.1"
    parser["embedded"]["port"] = str(port)
    parser["embedded"]["database"] = os.path.join(tmpdir, "local.sqlite3")
    parser["swfd"]["pidfile"] = os.path.join(tmpdir, "swfd.pid")
    path = os.path.join(tmpdir, "swfd.ini")
    with open(path, "w") as f:
        f.write(f"# {os.path.relpath(source, driver.ROOT)} as shipped, except [embedded] host, "
                "port, database and [swfd] pidfile\n")
        parser.write(f)
    return path


class Daemon:
    """One ``swfd --config`` daemon (its supervisor) we started, with its NOTIFY_SOCKET.

    ``shipped``: run ``etc/swfd-local.ini`` (see write_shipped_config) with the
    plugins it names, instead of a bench config with ``processes`` workers
    serving the bench plugin."""

    def __init__(self, processes: int = 1, shipped: bool = False) -> None:
        self.tmpdir = tempfile.mkdtemp(prefix="swfd-bench-daemon-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.shipped = shipped
        if shipped:
            self.config = write_shipped_config(self.tmpdir, self.port)
        else:
            self.config = write_config(self.tmpdir, self.port, processes)
        self.database = os.path.join(self.tmpdir, "local.sqlite3")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock_path = os.path.join(self.tmpdir, "notify.sock")
        self.sock.bind(self.sock_path)
        self.log = os.path.join(self.tmpdir, "swfd.log")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> float:
        """Spawn the daemon; returns seconds until READY=1."""
        if self.shipped:  # the plugins the file names (tutorial), nothing of bench's
            env = driver.bench_env(NOTIFY_SOCKET=self.sock_path)
            env.pop("SWFD_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
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

    def tree(self) -> dict[int, int]:
        """The supervisor and its live descendants (ours): pid -> start time, so that
        a pid is recognised after the supervisor has exited and its orphans were
        re-parented."""
        if self.proc is None or self.proc.poll() is not None:
            return {}
        stats = all_stats()
        return {p: stats[p].start_ticks for p in tree_pids(self.proc.pid, stats)}

    @staticmethod
    def left(tree: dict[int, int]) -> list[int]:
        """Which of ``tree`` still run (same pid, same start time, not a zombie)."""
        alive = []
        for pid, started in tree.items():
            st = read_stat(pid)
            if st is not None and st.start_ticks == started and st.state != "Z":
                alive.append(pid)
        return sorted(alive)

    @staticmethod
    def kill_pids(pids: list[int]) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """Last resort: SIGKILL the supervisor and every descendant (ours, by pid)."""
        if self.proc is not None and self.proc.poll() is None:
            tree = self.tree()
            self.proc.kill()
            self.kill_pids(self.left({p: t for p, t in tree.items() if p != self.proc.pid}))
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
            # endpoint + generation + pool children (the registrar has exited by READY)
            children.append(len(daemon.tree()) - 1)
            # Right after READY a child may not have sent its first poll yet (and would
            # exit at once): let every worker settle into a long poll first.
            time.sleep(POLL_TIMEOUT + 1.0)
            seconds, code = daemon.drain()
            res.log(f"  start-up {times[-1]:.2f} s, descendants {children[-1]}; idle drain "
                    f"{seconds:.2f} s (exit {code})")
            res.series.setdefault("drain_idle", []).append(seconds)
        finally:
            daemon.close()
    res.add("8. start-up", "swfd --config to READY=1, 8 worker children", statistics.median(
        times), "s", note=f"median of {runs}: {', '.join(f'{t:.2f}' for t in times)} s; "
        f"embedded endpoint + registrar first; {children[0]} processes under the "
        "supervisor at READY")
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


def role(pid: int, supervisor: int, stats: dict) -> str:
    """What one process of the daemon's tree is: by its command line (the endpoint and
    the generation are exec'd) or its comm (pool children are named after their pool)."""
    if pid == supervisor:
        return "supervisor"
    argv = cmdline(pid)
    if "swfd.local" in argv:
        return "endpoint"
    parent = stats[pid].ppid if pid in stats else None
    if "swfd.generation" in argv and parent == supervisor:
        return "generation"
    return comm(pid) or f"pid {pid}"


def sample(root: int) -> tuple[dict[int, int], dict]:
    """On-CPU ns of every live process of the tree under ``root``, and the /proc stats."""
    stats = all_stats()
    return {p: thread_ns(p) for p in tree_pids(root, stats)}, stats


def idle_daemon(res: Results, seconds: float) -> None:
    fig = "9. idle CPU of the whole daemon"
    shipped = configparser.ConfigParser(interpolation=None)
    shipped.read(SHIPPED_CONFIG)
    poll_timeout = shipped.get("embedded", "poll_timeout", fallback="60")
    pools = [s for s in shipped.sections() if s.startswith(("worker:", "decider:"))]
    pollers = sum(shipped.getint(s, "processes", fallback=1) for s in pools)
    daemon = Daemon(shipped=True)
    try:
        ready = daemon.start()
        assert daemon.proc is not None
        root = daemon.proc.pid
        time.sleep(IDLE_SETTLE + float(poll_timeout))
        if daemon.proc.poll() is not None:
            raise RuntimeError(f"swfd exited with {daemon.proc.returncode}: {daemon.tail()}")
        # The window: the whole tree re-walked every second, so a process born in it counts
        # from 0 and one that exits keeps its last reading (both are listed in the note).
        first, stats = sample(root)
        names = {p: role(p, root, stats) for p in first}
        ticks0 = sum(stats[p].cpu_ticks for p in first)
        quiet = [p for p in first if names[p] in ("supervisor", "generation")]
        wake0 = {p: voluntary_switches(p) for p in quiet}
        last = dict(first)
        born: set[int] = set()
        t0 = time.monotonic()
        deadline = t0 + seconds
        while True:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            now, stats = sample(root)
            for pid, ns in now.items():
                if pid not in first:
                    first[pid] = 0
                    born.add(pid)
                    names[pid] = role(pid, root, stats)
                last[pid] = ns
            if time.monotonic() >= deadline:
                break
        elapsed = time.monotonic() - t0
        ticks1 = sum(stats[p].cpu_ticks for p in now)
        wake1 = {p: voluntary_switches(p) for p in wake0}
        gone = sorted(p for p in first if p not in now)
        tree = daemon.tree()
        drain_s, code = daemon.drain(timeout=daemon_drain_budget(shipped))
        leftover = daemon.left({p: t for p, t in tree.items() if p != root})
        daemon.kill_pids(leftover)
    finally:
        daemon.close()

    pct = {p: 100 * (last[p] - first[p]) / 1e9 / elapsed for p in first}
    total = sum(pct.values())
    ticks_pct = 100 * (ticks1 - ticks0) / CLK_TCK / elapsed
    quiet_pct = sum(pct[p] for p in quiet)
    busiest = max(pct, key=pct.get)
    counts: dict[str, int] = {}
    for p in first:
        kind = names[p].split(":")[0]
        counts[kind] = counts.get(kind, 0) + 1
    shape = ", ".join(f"{n} {k}" for k, n in counts.items())
    churn = ""
    if born or gone:
        churn = (f"; {len(born)} process(es) started and {len(gone)} exited in the window "
                 "(a respawn?)")
    res.add(fig, f"whole tree, etc/swfd-local.ini as shipped ({len(first)} processes)", total,
            "% CPU", target=f"< {IDLE_TARGET:g} %", met=total < IDLE_TARGET,
            note=f"% of one core over {elapsed:.0f} s, from one long poll + "
                 f"{IDLE_SETTLE:g} s after READY=1 ({ready:.2f} s); schedstat ns, all threads of {shape}; poll_timeout "
                 f"{poll_timeout} s as shipped, so each of {pollers} pollers re-polls about "
                 f"every {poll_timeout} s; cross-check from /proc/PID/stat (10 ms ticks): "
                 f"{ticks_pct:.2f} %"
                 f"{churn}; SIGTERM to exit {drain_s:.1f} s (exit {code})"
                 + (f", {len(leftover)} left and killed" if leftover else ""))
    wakes = ", ".join(f"{names[p]} {wake1[p] - wake0[p]}" for p in wake0 if p in wake1)
    res.add(fig, "supervisor + generation", quiet_pct, "% CPU",
            note=", ".join(f"{names[p]} {pct[p]:.3f} %" for p in sorted(quiet))
            + f"; wake-ups (voluntary context switches) in the window: {wakes}; "
              "they sleep until a signal, a child's report or a deadline")
    breakdown = ", ".join(f"{names[p]} {pct[p]:.3f}" for p in sorted(pct, key=pct.get,
                                                                        reverse=True))
    res.add(fig, f"busiest process: {names[busiest]}", pct[busiest], "% CPU",
            note=f"per process (% of one core): {breakdown}")
    res.series["daemon_idle"] = {f"{names[p]} (pid {p})": pct[p] for p in pct}


def daemon_drain_budget(config: configparser.ConfigParser) -> float:
    """How long SIGTERM may take: the supervisor's own stop budget (graceful_timeout
    plus two kill graces plus 5 s) and a margin; the endpoint stops last."""
    graceful = config.getfloat("swfd", "graceful_timeout", fallback=30.0)
    return graceful + 2 * 5.0 + 5.0 + 15.0


def run(res: Results, quick: bool) -> None:
    why = daemon_available()
    if why:
        res.missing("5. drain", "swfd daemon", why)
        res.missing("8. start-up", "swfd daemon", why)
        res.missing("9. idle CPU of the whole daemon", "swfd daemon", why)
        return
    res.guarded("8. start-up / 5. idle drain", lambda: startup(res, 2 if quick else 5))
    res.guarded("5. drain with tasks in hand", lambda: drain_in_hand(res, 4))
    res.guarded("9. idle CPU of the whole daemon", lambda: idle_daemon(res, 10 if quick else 30))
