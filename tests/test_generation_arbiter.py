"""A generation's arbiter with trivial children: fork, per-slot respawn, drain, signals.

Each test runs a real arbiter in a subprocess (this file run as a script with a
scenario), whose children are small functions that write what happened to them
into an events file, and report their readiness on the arbiter's pipe as a real
worker does before its first poll. What the arbiter tells its supervisor goes to
a reports file. Real signals, real processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swfd.testing import wait_for

# Timing-sensitive: never side by side with the others of the group (pytest-xdist).
pytestmark = pytest.mark.xdist_group("timing")

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


def _child(events: str, group: str, behaviour: str, term_delay: float = 0.5, *,
           lifeline_fd: int, ready_fd: int, board: object = None) -> int:
    """A pool child. ``obedient``: reports ready, exits ``term_delay`` s after TERM, at
    once on INT or USR1. ``stubborn``: records every signal, exits on none. ``crash``:
    exits 1 before it is ready. ``recycle``: exits 3 after a moment. ``orphan``: like
    obedient, and drains when its lifeline is cut."""
    from swfd.process import set_parent_death_signal

    if behaviour != "orphan":
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
        if behaviour not in ("obedient", "orphan"):
            return
        delay = term_delay if sig == signal.SIGTERM else 0.0
        exit_at = time.monotonic() + delay
        state["exit_at"] = min(state["exit_at"] or exit_at, exit_at)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGQUIT):
        signal.signal(sig, on_signal)
    if behaviour == "orphan":
        from swfd.lifeline import watch

        watch(lifeline_fd, lambda: _record(events, "orphaned", group, os.getpid()) or
              on_signal(signal.SIGTERM, None))
    _record(events, "ready", group, os.getpid())
    os.write(ready_fd, f"ready {os.getpid()}\n".encode())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if state["exit_at"] is not None and time.monotonic() >= state["exit_at"]:
            _record(events, "exit", group, os.getpid())
            return 0
        time.sleep(0.02)
    return 0


def _registrar(events: str, failures: int, **_fds: int) -> int:
    _record(events, "spawn", "registrar", os.getpid())
    count_file = events + ".registrar"
    count = int(Path(count_file).read_text()) if os.path.exists(count_file) else 0
    Path(count_file).write_text(str(count + 1))
    return 1 if count < failures else 0


def _main(spec_json: str) -> int:
    from functools import partial

    from swfd import logs
    from swfd.arbiter.arbiter import Arbiter, ChildSpec
    from swfd.arbiter.report import Reporter
    from swfd.arbiter.respawn import Timing

    spec = json.loads(spec_json)
    logs.setup("text", "INFO", pool="generation-1")
    events = spec["events"]
    pools = [
        ChildSpec(
            name=p["name"],
            target=partial(_child, events, p["name"], p["behaviour"], p.get("term_delay", 0.5)),
            processes=p.get("processes", 1),
            kind=p["name"].split(":")[0],
            give_up_after=p.get("give_up_after"),
        )
        for p in spec["pools"]
    ]
    registrar = None
    if "registrar_failures" in spec:
        registrar = ChildSpec(
            "registrar", partial(_registrar, events, spec["registrar_failures"]),
            kind="registrar",
        )
    timing = Timing(**{
        "min_uptime": 0.5, "boot_backoff_first": 0.2, "boot_backoff_max": 2.0,
        "kill_grace": 0.5, "registrar_attempts": 3, **spec.get("timing", {}),
    })
    reports = os.open(spec["reports"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    lifeline = spec.get("lifeline_fd")
    return Arbiter(
        pools,
        graceful_timeout=spec.get("graceful_timeout", 10.0),
        registrar=registrar,
        reporter=Reporter(reports),
        parent_lifeline=lifeline,
        heartbeat=spec.get("heartbeat"),
        timing=timing,
    ).run()


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))


# --------------------------------------------------------------------------
# The tests: run in pytest.
# --------------------------------------------------------------------------

class Generation:
    """An arbiter subprocess plus readers for its events, reports and log."""

    def __init__(self, tmp_path: Path, spec: dict) -> None:
        self.events = tmp_path / "events"
        self.reports = tmp_path / "reports"
        self.log = tmp_path / "generation.log"
        self.lifeline = None
        pass_fds = ()
        if spec.pop("lifeline", False):
            from swfd.lifeline import Lifeline

            self.lifeline = Lifeline()
            spec["lifeline_fd"] = self.lifeline.read_fd
            pass_fds = (self.lifeline.read_fd,)
        spec = {"events": str(self.events), "reports": str(self.reports), **spec}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(HERE), json.dumps(spec)], stderr=log, pass_fds=pass_fds
            )
        if self.lifeline is not None:
            os.close(self.lifeline.read_fd)

    def lines(self, *prefix: str) -> list[list[str]]:
        if not self.events.exists():
            return []
        rows = [line.split() for line in self.events.read_text().splitlines()]
        return [r for r in rows if r[: len(prefix)] == list(prefix)]

    def spawned(self, group: str) -> list[int]:
        return [int(r[2]) for r in self.lines("spawn", group)]

    def reported(self, event: str) -> list[dict]:
        if not self.reports.exists():
            return []
        rows = [json.loads(line) for line in self.reports.read_text().splitlines()]
        return [r for r in rows if r["event"] == event]

    def statuses(self) -> list[str]:
        return [r["status"] for r in self.reported("status")]

    def ready(self) -> bool:
        """Every child has reported that it polls."""
        return bool(self.reported("ready"))

    def log_text(self) -> str:
        return self.log.read_text()

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
            if self.lifeline is not None:
                os.close(self.lifeline.write_fd)
            for row in self.lines("spawn"):
                try:
                    os.kill(int(row[2]), signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


@pytest.fixture
def generation(tmp_path):
    started: list[Generation] = []

    def start(**spec) -> Generation:
        g = Generation(tmp_path, spec)
        started.append(g)
        return g

    yield start
    for g in started:
        g.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of the arbiter's is as good as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False



def test_spawns_pools_reports_ready_and_drains_on_term(generation):
    g = generation(pools=[
        {"name": "worker:a", "behaviour": "obedient", "processes": 2},
        {"name": "decider:b", "behaviour": "obedient"},
    ])
    wait_for(g.ready, 20, message="ready report")
    assert len(g.spawned("worker:a")) == 2 and len(g.spawned("decider:b")) == 1
    assert g.reported("settled") and "2 workers, 1 decider running" in g.statuses()
    g.signal(signal.SIGTERM)
    assert g.wait() == 0
    assert g.reported("draining")
    for group in ("worker:a", "decider:b"):
        for pid in g.spawned(group):
            assert ["signal", group, str(pid), "SIGTERM"] in [r[:4] for r in g.lines("signal")]
            assert ["exit", group, str(pid)] in [r[:3] for r in g.lines("exit")]


def test_child_that_served_is_respawned_at_once_however_often_it_is_killed(generation):
    g = generation(pools=[{"name": "worker:a", "behaviour": "obedient", "processes": 2}])
    wait_for(g.ready, 20, message="ready report")
    for n in range(6):  # the OOM killer's pace: every child past min_uptime (0.5 s here)
        victim = g.spawned("worker:a")[-1]
        wait_for(lambda v=victim: ["ready", "worker:a", str(v)] in [r[:3] for r in
                                                                      g.lines("ready")],
                 10, message="the victim ready")
        time.sleep(0.6)  # outlive min_uptime: the behaviour under test
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda n=n: len(g.spawned("worker:a")) == 3 + n, 10, message="a replacement")
        respawned = float(g.lines("spawn", "worker:a")[-1][3])
        assert respawned - killed < 1.0
    text = g.log_text()
    assert text.count("died in service (killed by SIGKILL)") == 6
    assert "respawning now" in text and "boot failure" not in text
    assert not g.reported("give_up") and g.proc.poll() is None
    g.signal(signal.SIGTERM)
    assert g.wait() == 0


def test_boot_failures_back_off_per_slot_degrade_the_pool_and_never_give_up(generation):
    g = generation(pools=[
        {"name": "worker:ok", "behaviour": "obedient"},
        {"name": "worker:bad", "behaviour": "crash"},
    ], timing={"boot_backoff_max": 1.6})
    wait_for(lambda: len(g.spawned("worker:bad")) >= 7, 30, message="seven boots")
    times = [float(r[3]) for r in g.lines("spawn", "worker:bad")]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # 0.2 s doubling to the 1.6 s cap, no jitter: the delay logged is the delay kept
    for gap, delay in zip(gaps, (0.2, 0.4, 0.8, 1.6, 1.6, 1.6)):
        assert delay <= gap < delay + 1.0, gaps  # + the child's own short life
    text = g.log_text()
    assert "boot failure 3 in a row of slot 0; respawning in 0.8s" in text
    assert any("pool worker:bad degraded: " in s for s in g.statuses())
    assert g.reported("settled") and not g.reported("ready")
    # The healthy pool is not held back by the other's backoff.
    (ok,) = g.spawned("worker:ok")
    time.sleep(0.6)  # past min_uptime
    os.kill(ok, signal.SIGKILL)
    wait_for(lambda: len(g.spawned("worker:ok")) == 2, 5, message="worker:ok replaced")
    assert g.proc.poll() is None and not g.reported("give_up")
    g.signal(signal.SIGTERM)
    assert g.wait() == 0


def test_give_up_after_stops_the_generation_with_exit_1(generation):
    g = generation(pools=[{"name": "worker:ok", "behaviour": "obedient"},
                          {"name": "worker:bad", "behaviour": "crash", "give_up_after": 3}],
                   timing={"boot_backoff_first": 0.05})
    assert g.wait() == 1
    (give_up,) = g.reported("give_up")
    assert give_up["reason"].startswith("pool worker:bad: 3 boot failures in a row "
                                        "(give_up_after = 3; last exit code 1)")
    assert len(g.spawned("worker:bad")) == 3


def test_death_within_min_uptime_of_ready_is_a_boot_failure(generation):
    g = generation(pools=[{"name": "worker:a", "behaviour": "obedient"}],
                   timing={"min_uptime": 30.0, "boot_backoff_first": 1.0})
    wait_for(g.ready, 20, message="ready report")
    os.kill(g.spawned("worker:a")[0], signal.SIGKILL)
    wait_for(lambda: "boot failure 1 in a row of slot 0; respawning in 1.0s" in g.log_text(),
             10, message="a boot failure")
    wait_for(lambda: len(g.spawned("worker:a")) == 2, 10, message="the slot refilled")
    g.signal(signal.SIGTERM)
    assert g.wait() == 0


def test_recycle_exit_code_is_not_a_failure(generation):
    g = generation(pools=[{"name": "worker:r", "behaviour": "recycle"}],
                   timing={"boot_backoff_first": 5.0})
    wait_for(lambda: len(g.spawned("worker:r")) >= 10, 20, message="10 recycles")
    times = [float(r[3]) for r in g.lines("spawn", "worker:r")][:10]
    assert times[-1] - times[0] < 5.0  # no backoff at all
    assert "boot failure" not in g.log_text() and "recycled itself" in g.log_text()
    g.signal(signal.SIGTERM)
    assert g.wait() == 0


def test_graceful_timeout_sends_usr1_then_sigkill(generation):
    g = generation(pools=[{"name": "worker:s", "behaviour": "stubborn"}], graceful_timeout=1.0)
    wait_for(g.ready, 20, message="ready report")
    (pid,) = g.spawned("worker:s")
    start = time.monotonic()
    g.signal(signal.SIGTERM)
    assert g.wait() == 0
    assert time.monotonic() - start < 10
    got = [r[3] for r in g.lines("signal", "worker:s")]
    assert got == ["SIGTERM", "SIGUSR1"]
    assert "graceful_timeout (1s) reached with 1 children busy" in g.log_text()
    assert f"killing worker:s pid {pid} (SIGKILL)" in g.log_text()
    assert not alive(pid)


def test_int_stops_fast_and_escalates_a_drain(generation):
    g = generation(pools=[{"name": "worker:a", "behaviour": "obedient", "processes": 2,
                           "term_delay": 60}])
    wait_for(g.ready, 20, message="ready report")
    g.signal(signal.SIGTERM)
    wait_for(lambda: len(g.lines("signal", "worker:a")) == 2, 10, message="TERM forwarded")
    g.signal(signal.SIGTERM)
    wait_for(lambda: "SIGTERM: already draining" in g.log_text(), 10, message="second TERM")
    assert g.proc.poll() is None
    start = time.monotonic()
    g.signal(signal.SIGINT)
    assert g.wait() == 0
    assert time.monotonic() - start < 5
    for pid in g.spawned("worker:a"):
        got = [r[3] for r in g.lines("signal", "worker:a", str(pid))]
        assert got == ["SIGTERM", "SIGINT"], got


def test_quit_is_a_fast_stop_and_hup_is_left_to_the_supervisor(generation):
    g = generation(pools=[{"name": "worker:a", "behaviour": "obedient"}])
    wait_for(g.ready, 20, message="ready report")
    g.signal(signal.SIGHUP)
    wait_for(lambda: "SIGHUP ignored by a generation" in g.log_text(), 10, message="HUP")
    assert g.lines("signal") == [] and len(g.spawned("worker:a")) == 1
    g.signal(signal.SIGQUIT)
    assert g.wait() == 0
    assert [r[3] for r in g.lines("signal", "worker:a")] == ["SIGINT"]


def test_registrar_is_retried_before_the_pools_fork(generation):
    g = generation(pools=[{"name": "worker:a", "behaviour": "obedient"}], registrar_failures=2)
    wait_for(g.ready, 30, message="ready report")
    order = [r[1] for r in g.lines("spawn")]
    assert order == ["registrar", "registrar", "registrar", "worker:a"]
    assert g.log_text().count("registrar pid") >= 3
    g.signal(signal.SIGTERM)
    assert g.wait() == 0


def test_registrar_that_keeps_failing_fails_the_generation_with_its_reason(generation):
    g = generation(pools=[{"name": "worker:a", "behaviour": "obedient"}], registrar_failures=99)
    assert g.wait(timeout=30) == 1
    (failed,) = g.reported("failed")
    assert failed["reason"] == "registration failed 3 times (last: exit code 1)"
    assert g.spawned("worker:a") == []


def test_supervisor_death_drains_the_generation(generation):
    """The supervisor's lifeline closes (it died, even by SIGKILL): drain, then exit."""
    g = generation(pools=[{"name": "worker:a", "behaviour": "orphan", "processes": 2}],
                   lifeline=True)
    wait_for(g.ready, 20, message="ready report")
    os.close(g.lifeline.write_fd)
    g.lifeline = None
    assert g.wait(10) == 0
    assert "the supervisor is gone (its lifeline closed); draining" in g.log_text()
    for pid in g.spawned("worker:a"):
        assert ["exit", "worker:a", str(pid)] in [r[:3] for r in g.lines("exit")]


def test_generation_death_cuts_its_childrens_lifeline(generation):
    """kill -9 of a generation: its children read end of file and drain on their own."""
    g = generation(pools=[{"name": "worker:a", "behaviour": "orphan", "processes": 2}])
    wait_for(g.ready, 20, message="ready report")
    g.proc.kill()
    g.wait(10)
    children = g.spawned("worker:a")
    wait_for(lambda: len(g.lines("exit", "worker:a")) == 2, 5, message="orphans exit")
    assert sorted(int(r[2]) for r in g.lines("orphaned")) == sorted(children)


def test_children_are_named_after_their_pool(generation):
    g = generation(pools=[{"name": "worker:a", "behaviour": "obedient"}])
    wait_for(g.ready, 20, message="ready report")
    (pid,) = g.spawned("worker:a")
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "worker:a"
    g.signal(signal.SIGTERM)
    assert g.wait() == 0


def test_an_idle_generation_has_no_deadline_to_wake_for():
    """Idle is idle: with the registrar done and every slot filled, the loop sleeps
    until a signal or a child's word (the old master woke 15,000 times a second)."""
    from swfd.arbiter.arbiter import Arbiter, ChildSpec, Phase

    arbiter = Arbiter([ChildSpec("worker:a", lambda **fds: 0, processes=2)],
                      graceful_timeout=10.0, registrar=ChildSpec("registrar", lambda **fds: 0))
    arbiter.phase = Phase.RUNNING  # the registrar exited 0
    for pid, slot in enumerate(arbiter.slots, start=100):
        slot.started(pid, time.monotonic())
    assert arbiter.next_wakeup() is None
    arbiter.slots[0].pid = None
    arbiter.slots[0].next_spawn_at = 123.0
    assert arbiter.next_wakeup() == 123.0


def test_ttin_adds_and_ttou_drains_one_process_per_pool(generation):
    g = generation(pools=[{"name": "worker:a", "behaviour": "obedient"},
                          {"name": "decider:b", "behaviour": "obedient"}])
    wait_for(g.ready, 20, message="ready report")
    g.signal(signal.SIGTTIN)
    wait_for(lambda: len(g.spawned("worker:a")) == 2 and len(g.spawned("decider:b")) == 2, 10,
             message="one more process per pool")
    assert "SIGTTIN: pool worker:a now has 2 processes (until the next reload)" in g.log_text()
    newest = g.spawned("worker:a")[-1]
    g.signal(signal.SIGTTOU)
    wait_for(lambda: ["exit", "worker:a", str(newest)] in [r[:3] for r in g.lines("exit")], 10,
             message="the newest worker drained")
    assert ["signal", "worker:a", str(newest), "SIGTERM"] in [r[:4] for r in g.lines("signal")]
    g.signal(signal.SIGTTOU)  # one process left in each pool: kept
    wait_for(lambda: "SIGTTOU: pool worker:a keeps its one process" in g.log_text(), 10,
             message="the last process kept")
    assert len(g.spawned("worker:a")) == 2  # the drained slot was not refilled
    assert "2 workers" not in g.statuses()[-1] and "1 worker, 1 decider" in g.statuses()[-1]
    g.signal(signal.SIGTERM)
    assert g.wait() == 0
