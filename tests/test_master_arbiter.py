"""The arbiter with trivial children: fork, respawn, backoff, crash loops, signals.

Each test runs a real master in a subprocess (this file run as a script with
a scenario), whose children are small functions that write what happened to
them into an events file. Real signals, real sd_notify datagrams.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swfd.testing import free_port, wait_for

HERE = Path(__file__).resolve()


# --------------------------------------------------------------------------
# The harness: runs in the subprocess.
# --------------------------------------------------------------------------

def _record(events: str, *words: object) -> None:
    line = " ".join(str(w) for w in words) + f" {time.monotonic():.3f}\n"
    fd = os.open(events, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _child(events: str, group: str, behaviour: str, term_delay: float = 0.5) -> int:
    """A pool child. ``obedient``: exits ``term_delay`` s after TERM, at once on INT
    or USR1. ``stubborn``: records every signal, exits on none. ``crash``: exits 1.
    ``recycle``: exits 3 after a moment."""
    from swfd.arbiter.process import set_parent_death_signal

    set_parent_death_signal(signal.SIGKILL)
    _record(events, "spawn", group, os.getpid())
    if behaviour == "crash":
        return 1
    if behaviour == "recycle":
        time.sleep(0.05)
        return 3
    state = {"exit_at": None}

    def on_signal(sig, frame):
        name = signal.Signals(sig).name
        _record(events, "signal", group, os.getpid(), name)
        if behaviour != "obedient":
            return
        delay = term_delay if sig == signal.SIGTERM else 0.0
        exit_at = time.monotonic() + delay
        state["exit_at"] = min(state["exit_at"] or exit_at, exit_at)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGQUIT):
        signal.signal(sig, on_signal)
    _record(events, "ready", group, os.getpid())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if state["exit_at"] is not None and time.monotonic() >= state["exit_at"]:
            _record(events, "exit", group, os.getpid())
            return 0
        time.sleep(0.02)
    return 0


def _endpoint(events: str, port: int, delay: float, die: bool) -> int:
    """A stand-in for the local endpoint: listens after ``delay`` s, stops on TERM."""
    from swfd.arbiter.process import set_parent_death_signal

    set_parent_death_signal(signal.SIGKILL)
    _record(events, "spawn", "endpoint", os.getpid())
    stop = {"now": False}

    def on_term(sig, frame):
        _record(events, "signal", "endpoint", os.getpid(), "SIGTERM")
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_term)
    time.sleep(delay)
    if die:
        return 4
    with socket.socket() as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", port))
        srv.listen(16)
        srv.settimeout(0.05)
        deadline = time.monotonic() + 120
        while not stop["now"] and time.monotonic() < deadline:
            try:
                conn, _ = srv.accept()
                conn.close()
            except OSError:
                pass
    _record(events, "exit", "endpoint", os.getpid())
    return 0


def _registrar(events: str, failures: int) -> int:
    _record(events, "spawn", "registrar", os.getpid())
    count_file = events + ".registrar"
    count = int(Path(count_file).read_text()) if os.path.exists(count_file) else 0
    Path(count_file).write_text(str(count + 1))
    return 1 if count < failures else 0


def _main(spec_json: str) -> int:
    from functools import partial

    from swfd import logs
    from swfd.arbiter.respawn import Timing
    from swfd.master import Arbiter, ChildSpec

    spec = json.loads(spec_json)
    logs.setup("text", "INFO")
    events = spec["events"]
    pools = [
        ChildSpec(
            name=p["name"],
            target=partial(_child, events, p["name"], p["behaviour"], p.get("term_delay", 0.5)),
            processes=p.get("processes", 1),
            kind=p["name"].split(":")[0],
        )
        for p in spec["pools"]
    ]
    endpoint = registrar = address = None
    if "endpoint" in spec:
        e = spec["endpoint"]
        endpoint = ChildSpec(
            "endpoint", partial(_endpoint, events, e["port"], e.get("delay", 0.3),
                                e.get("die", False)), kind="endpoint",
        )
        address = ("127.0.0.1", e["port"])
    if "registrar_failures" in spec:
        registrar = ChildSpec(
            "registrar", partial(_registrar, events, spec["registrar_failures"]),
            kind="registrar",
        )
    timing = Timing(**{
        "backoff_initial": 0.2, "backoff_max": 2.0, "stable_after": 5.0,
        "crash_loop_limit": 5, "kill_grace": 0.5, "endpoint_ready_timeout": 5.0,
        "endpoint_stop_timeout": 2.0, "registrar_attempts": 3, **spec.get("timing", {}),
    })
    return Arbiter(
        pools,
        graceful_timeout=spec.get("graceful_timeout", 10.0),
        endpoint=endpoint,
        endpoint_address=address,
        registrar=registrar,
        pidfile=spec.get("pidfile"),
        timing=timing,
    ).run()


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))


# --------------------------------------------------------------------------
# The tests: run in pytest.
# --------------------------------------------------------------------------

class Master:
    """A master subprocess plus readers for its events file, log and notify socket."""

    def __init__(self, tmp_path: Path, spec: dict) -> None:
        self.events = tmp_path / "events"
        self.log = tmp_path / "master.log"
        self.notify_path = str(tmp_path / "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notify.setblocking(False)
        self.messages: list[str] = []
        spec = {"events": str(self.events), **spec}
        env = {**os.environ, "NOTIFY_SOCKET": self.notify_path}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(HERE), json.dumps(spec)], stderr=log, env=env
            )

    def lines(self, *prefix: str) -> list[list[str]]:
        if not self.events.exists():
            return []
        rows = [line.split() for line in self.events.read_text().splitlines()]
        return [r for r in rows if r[: len(prefix)] == list(prefix)]

    def spawned(self, group: str) -> list[int]:
        return [int(r[2]) for r in self.lines("spawn", group)]

    def ready(self, count: int) -> bool:
        """``count`` pool children have their signal handlers installed."""
        return self.notified("READY=1") and len(self.lines("ready")) >= count

    def log_text(self) -> str:
        return self.log.read_text()

    def notifications(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.notify.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def notified(self, text: str) -> bool:
        return any(text in m for m in self.notifications())

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
        finally:
            self.notify.close()
            for row in self.lines("spawn"):
                try:
                    os.kill(int(row[2]), signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


@pytest.fixture
def master(tmp_path):
    started: list[Master] = []

    def start(**spec) -> Master:
        m = Master(tmp_path, spec)
        started.append(m)
        return m

    yield start
    for m in started:
        m.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of the master's is as good as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_spawns_pools_writes_pidfile_notifies_and_drains_on_term(master, tmp_path):
    pidfile = tmp_path / "run" / "swfd.pid"
    m = master(
        pools=[
            {"name": "worker:a", "behaviour": "obedient", "processes": 2},
            {"name": "decider:b", "behaviour": "obedient"},
        ],
        pidfile=str(pidfile),
    )
    wait_for(lambda: m.ready(3), 20, message="READY=1")
    assert pidfile.read_text().strip() == str(m.proc.pid)
    assert len(m.spawned("worker:a")) == 2 and len(m.spawned("decider:b")) == 1
    assert m.notified("STATUS=2 workers, 1 decider running")
    assert m.notified(f"MAINPID={m.proc.pid}")

    m.signal(signal.SIGTERM)
    assert m.wait() == 0
    assert m.notified("STOPPING=1")
    for group in ("worker:a", "decider:b"):
        for pid in m.spawned(group):
            assert ["signal", group, str(pid), "SIGTERM"] in [r[:4] for r in m.lines("signal")]
            assert ["exit", group, str(pid)] in [r[:3] for r in m.lines("exit")]
    assert not pidfile.exists()


def test_pidfile_held_by_a_live_master_refuses_a_second(master, tmp_path):
    pidfile = str(tmp_path / "swfd.pid")
    first = master(pools=[{"name": "worker:a", "behaviour": "obedient"}], pidfile=pidfile)
    wait_for(lambda: first.notified("READY=1"), 20, message="first master ready")
    second = subprocess.run(
        [sys.executable, str(HERE), json.dumps({
            "events": str(tmp_path / "events2"), "pidfile": pidfile,
            "pools": [{"name": "worker:a", "behaviour": "obedient"}],
        })],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert second.returncode == 1
    assert f"held by a running swfd (pid {first.proc.pid})" in second.stderr
    assert not (tmp_path / "events2").exists()
    first.signal(signal.SIGTERM)
    assert first.wait() == 0


def test_killed_child_is_respawned(master):
    m = master(pools=[{"name": "worker:a", "behaviour": "obedient", "processes": 2}])
    wait_for(lambda: m.ready(2), 20, message="READY=1")
    victim = m.spawned("worker:a")[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(m.spawned("worker:a")) == 3, 20, message="a replacement")
    assert f"worker:a pid {victim} exited unexpectedly (killed by SIGKILL)" in m.log_text()
    m.signal(signal.SIGTERM)
    assert m.wait() == 0


def test_crash_loop_backs_off_then_fails_only_that_pool(master):
    m = master(pools=[
        {"name": "worker:ok", "behaviour": "obedient"},
        {"name": "worker:bad", "behaviour": "crash"},
    ])
    wait_for(lambda: "pool worker:bad failed" in m.log_text(), 30, message="pool failed")
    times = [float(r[3]) for r in m.lines("spawn", "worker:bad")]
    assert len(times) == 5  # crash_loop_limit
    gaps = [b - a for a, b in zip(times, times[1:])]
    # 0.2 s doubling with +-25 % jitter: 0.15-0.25, 0.3-0.5, 0.6-1.0, 1.2-2.0
    assert gaps[0] >= 0.14 and gaps[-1] >= 1.1 and gaps[-1] > gaps[0] * 3, gaps
    wait_for(lambda: m.notified("pool worker:bad failed: crash loop"), 10, message="STATUS")
    assert m.notified("STATUS=1 worker running; pool worker:bad failed: crash loop")
    assert m.notified("pool worker:bad respawning after 2 crashes (last exit code 1)")
    ok = m.spawned("worker:ok")
    assert len(ok) == 1 and alive(ok[0]) and m.proc.poll() is None
    m.signal(signal.SIGTERM)
    assert m.wait() == 0
    assert len(m.lines("spawn", "worker:bad")) == 5


def test_every_pool_failing_exits_1(master):
    m = master(pools=[{"name": "worker:bad", "behaviour": "crash"}],
               timing={"crash_loop_limit": 3, "backoff_initial": 0.05})
    assert m.wait() == 1
    assert "every pool failed" in m.log_text()


def test_stable_child_resets_backoff(master):
    # A child killed after running longer than stable_after is respawned quickly again.
    m = master(pools=[{"name": "worker:a", "behaviour": "obedient"}],
               timing={"stable_after": 0.5, "backoff_initial": 0.2, "crash_loop_limit": 3})
    for n in range(1, 5):
        wait_for(lambda n=n: len(m.spawned("worker:a")) == n, 20, message=f"spawn {n}")
        pid = m.spawned("worker:a")[-1]
        time.sleep(0.6)  # outlive stable_after: this is the behaviour under test
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: len(m.spawned("worker:a")) == 5, 20, message="spawn 5")
    assert "failed" not in m.log_text()
    m.signal(signal.SIGTERM)
    assert m.wait() == 0


def test_recycle_exit_code_is_not_a_crash(master):
    m = master(pools=[{"name": "worker:r", "behaviour": "recycle"}],
               timing={"crash_loop_limit": 2, "backoff_initial": 5.0})
    wait_for(lambda: len(m.spawned("worker:r")) >= 10, 20, message="10 recycles")
    times = [float(r[3]) for r in m.lines("spawn", "worker:r")][:10]
    assert times[-1] - times[0] < 5.0  # no backoff at all
    assert "failed" not in m.log_text() and "recycled itself" in m.log_text()
    m.signal(signal.SIGTERM)
    assert m.wait() == 0


def test_graceful_timeout_sends_usr1_then_sigkill(master):
    m = master(pools=[{"name": "worker:s", "behaviour": "stubborn"}], graceful_timeout=1.0)
    wait_for(lambda: m.ready(1), 20, message="READY=1")
    (pid,) = m.spawned("worker:s")
    start = time.monotonic()
    m.signal(signal.SIGTERM)
    assert m.wait() == 0
    assert time.monotonic() - start < 10
    got = [r[3] for r in m.lines("signal", "worker:s")]
    assert got == ["SIGTERM", "SIGUSR1"]
    assert "graceful_timeout (1s) reached with 1 children busy" in m.log_text()
    assert f"killing worker:s pid {pid} (SIGKILL)" in m.log_text()
    assert not alive(pid)


def test_int_stops_fast_and_escalates_a_drain(master):
    m = master(pools=[{"name": "worker:a", "behaviour": "obedient", "processes": 2,
                       "term_delay": 60}])
    wait_for(lambda: m.ready(2), 20, message="READY=1")
    m.signal(signal.SIGTERM)
    wait_for(lambda: len(m.lines("signal", "worker:a")) == 2, 10, message="TERM forwarded")
    m.signal(signal.SIGTERM)
    wait_for(lambda: "SIGTERM: already draining" in m.log_text(), 10, message="second TERM")
    assert m.proc.poll() is None
    start = time.monotonic()
    m.signal(signal.SIGINT)
    assert m.wait() == 0
    assert time.monotonic() - start < 5
    for pid in m.spawned("worker:a"):
        got = [r[3] for r in m.lines("signal", "worker:a", str(pid))]
        assert got == ["SIGTERM", "SIGINT"], got


def test_quit_is_a_fast_stop(master):
    m = master(pools=[{"name": "worker:a", "behaviour": "obedient"}])
    wait_for(lambda: m.ready(1), 20, message="READY=1")
    m.signal(signal.SIGQUIT)
    assert m.wait() == 0
    assert [r[3] for r in m.lines("signal", "worker:a")] == ["SIGINT"]
    assert m.notified("STOPPING=1")


def test_hup_is_logged_and_changes_nothing(master):
    m = master(pools=[{"name": "worker:a", "behaviour": "obedient"}])
    wait_for(lambda: m.notified("READY=1"), 20, message="READY=1")
    m.signal(signal.SIGHUP)
    wait_for(lambda: "reload is not supported yet" in m.log_text(), 10, message="HUP logged")
    m.signal(signal.SIGUSR1)
    wait_for(lambda: "SIGUSR1 ignored" in m.log_text(), 10, message="USR1 logged")
    assert m.proc.poll() is None and len(m.spawned("worker:a")) == 1
    assert m.lines("signal") == []
    m.signal(signal.SIGTERM)
    assert m.wait() == 0


def test_endpoint_starts_first_and_stops_last(master):
    port = free_port()
    m = master(
        pools=[{"name": "worker:a", "behaviour": "obedient", "processes": 2, "term_delay": 1.0}],
        endpoint={"port": port, "delay": 0.5},
        registrar_failures=0,
    )
    wait_for(lambda: m.ready(2), 20, message="READY=1")
    order = [r[1] for r in m.lines("spawn")]
    assert order == ["endpoint", "registrar", "worker:a", "worker:a"]
    assert m.notified("STATUS=starting the local endpoint")
    m.signal(signal.SIGTERM)
    assert m.wait() == 0
    rows = m.lines()
    endpoint_term = next(i for i, r in enumerate(rows) if r[:2] == ["signal", "endpoint"])
    pool_exits = [i for i, r in enumerate(rows) if r[:2] == ["exit", "worker:a"]]
    assert len(pool_exits) == 2 and max(pool_exits) < endpoint_term
    assert not [r for r in rows if r[:2] == ["signal", "endpoint"] and r[3] != "SIGTERM"]


def test_registrar_is_retried_before_the_pools_fork(master):
    port = free_port()
    m = master(pools=[{"name": "worker:a", "behaviour": "obedient"}],
               endpoint={"port": port, "delay": 0.1}, registrar_failures=2)
    wait_for(lambda: m.notified("READY=1"), 30, message="READY=1")
    order = [r[1] for r in m.lines("spawn")]
    assert order == ["endpoint", "registrar", "registrar", "registrar", "worker:a"]
    assert m.log_text().count("registrar pid") >= 3
    m.signal(signal.SIGTERM)
    assert m.wait() == 0


def test_registrar_that_keeps_failing_exits_1_and_stops_the_endpoint(master):
    port = free_port()
    m = master(pools=[{"name": "worker:a", "behaviour": "obedient"}],
               endpoint={"port": port, "delay": 0.1}, registrar_failures=99)
    assert m.wait(timeout=30) == 1
    assert "registration failed 3 times" in m.log_text()
    assert m.spawned("worker:a") == []
    assert m.lines("exit", "endpoint")


def test_endpoint_dying_at_startup_exits_1(master):
    m = master(pools=[{"name": "worker:a", "behaviour": "obedient"}],
               endpoint={"port": free_port(), "delay": 0.1, "die": True}, registrar_failures=0)
    assert m.wait(timeout=30) == 1
    assert "the local endpoint exited during startup (exit code 4)" in m.log_text()
    assert m.spawned("worker:a") == [] and m.spawned("registrar") == []


def test_endpoint_not_listening_in_time_exits_1(master):
    m = master(pools=[{"name": "worker:a", "behaviour": "obedient"}],
               endpoint={"port": free_port(), "delay": 30}, registrar_failures=0,
               timing={"endpoint_ready_timeout": 1.0})
    assert m.wait(timeout=30) == 1
    assert "did not accept connections" in m.log_text()


def test_endpoint_that_dies_while_running_is_restarted(master):
    port = free_port()
    m = master(pools=[{"name": "worker:a", "behaviour": "obedient"}],
               endpoint={"port": port, "delay": 0.1}, registrar_failures=0)
    wait_for(lambda: m.ready(1), 20, message="READY=1")
    (first,) = m.spawned("endpoint")
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: len(m.spawned("endpoint")) == 2, 20, message="a new endpoint")
    assert f"the local endpoint (pid {first}) died (killed by SIGKILL); restarting it" \
        in m.log_text()
    assert len(m.spawned("worker:a")) == 1 and len(m.spawned("registrar")) == 1
    m.signal(signal.SIGTERM)
    assert m.wait() == 0
    assert len(m.lines("exit", "endpoint")) == 1  # the second one, stopped last


def test_endpoint_that_dies_during_a_drain_is_restarted_for_the_children(master):
    m = master(pools=[{"name": "worker:a", "behaviour": "obedient", "term_delay": 3.0}],
               endpoint={"port": free_port(), "delay": 0.1}, registrar_failures=0)
    wait_for(lambda: m.ready(1), 20, message="READY=1")
    m.signal(signal.SIGTERM)
    wait_for(lambda: m.lines("signal", "worker:a"), 10, message="TERM forwarded")
    os.kill(m.spawned("endpoint")[0], signal.SIGKILL)
    wait_for(lambda: len(m.spawned("endpoint")) == 2, 10, message="a new endpoint")
    assert m.wait() == 0
    rows = m.lines()
    worker_exit = next(i for i, r in enumerate(rows) if r[:2] == ["exit", "worker:a"])
    endpoint_term = next(i for i, r in enumerate(rows) if r[:2] == ["signal", "endpoint"])
    assert worker_exit < endpoint_term


def test_children_are_named_after_their_pool(master):
    m = master(pools=[{"name": "worker:a", "behaviour": "obedient"}])
    wait_for(lambda: m.ready(1), 20, message="READY=1")
    (pid,) = m.spawned("worker:a")
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "worker:a"
    m.signal(signal.SIGTERM)
    assert m.wait() == 0
