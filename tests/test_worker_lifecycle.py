"""The child's shutdown flags, driven by real signals and a real parent's death."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from swfd.lifecycle import Lifecycle
from swfd.testing import wait_for

# Timing-sensitive: never side by side with the others of the group (pytest-xdist).
pytestmark = pytest.mark.xdist_group("timing")

CHILD = textwrap.dedent("""
    import json, sys, time
    from swfd.lifecycle import Lifecycle
    lc = Lifecycle()
    lc.install_signal_handlers()
    print("ready", flush=True)
    deadline = time.monotonic() + 20
    while not lc.stopping and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # a second signal of the same kind must not change the outcome
    print(json.dumps({"draining": lc.draining, "fast_stop": lc.fast_stop, "reason": lc.reason}))
""")


def _child_flags(signum: int) -> dict:
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    return json.loads(out)


def test_term_drains_without_fast_stop():
    assert _child_flags(signal.SIGTERM) == {
        "draining": True, "fast_stop": False, "reason": "SIGTERM"
    }


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1])
def test_int_quit_usr1_stop_fast(signum):
    flags = _child_flags(signum)
    assert flags["fast_stop"] is True and flags["draining"] is True
    assert flags["reason"] == signal.Signals(signum).name


@pytest.mark.parametrize(("pdeathsig", "expected_reason"),
                         [(True, {"SIGTERM", "parent died"}), (False, {"parent died"})])
def test_parent_death_makes_the_child_drain_within_a_second(tmp_path, pdeathsig,
                                                            expected_reason):
    """The lifeline (a pipe only the parent can write) reads end of file when the
    parent dies, even by SIGKILL; PR_SET_PDEATHSIG is a second line of defence."""
    report = tmp_path / "report"
    grandchild = textwrap.dedent(f"""
        import os, sys, time
        import swfd.lifecycle
        from swfd.lifecycle import Lifecycle
        if not {pdeathsig}:
            swfd.lifecycle.set_parent_death_signal = lambda signum: False
        lc = Lifecycle()
        lc.install_signal_handlers()
        lc.watch_lifeline(int(sys.argv[1]))
        open({str(report)!r} + ".pid", "w").write(str(os.getpid()))
        deadline = time.monotonic() + 20
        while not lc.draining and time.monotonic() < deadline:
            time.sleep(0.02)
        open({str(report)!r}, "w").write(f"{{lc.draining}}|{{lc.reason}}|{{time.monotonic()}}")
    """)
    parent = textwrap.dedent(f"""
        import os, signal, subprocess, sys, time
        from swfd.lifeline import Lifeline
        line = Lifeline()
        subprocess.Popen([sys.executable, "-c", {grandchild!r}, str(line.read_fd)],
                         pass_fds=(line.read_fd,))
        deadline = time.monotonic() + 20
        while not os.path.exists({str(report)!r} + ".pid") and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", parent], timeout=30, check=False)
    assert done.returncode == -signal.SIGKILL
    died = time.monotonic()
    text = wait_for(lambda: report.exists() and report.read_text(), timeout=5,
                    message="the orphaned child to notice its parent died")
    drained, reason, when = text.split("|")
    assert drained == "True"
    assert reason in expected_reason
    assert float(when) - died < 1.5
    pid = int((tmp_path / "report.pid").read_text())
    wait_for(lambda: not os.path.exists(f"/proc/{pid}") or _is_zombie(pid), timeout=5,
             message="the child to exit")


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_sleep_returns_early_once_stopping():
    lc = Lifecycle()
    assert lc.sleep(0.05) is False
    lc.drain("test")
    assert lc.sleep(30) is True
    assert lc.sleep(0.05, until_draining=False) is False
    lc.stop_fast("test")
    assert lc.sleep(30, until_draining=False) is True
    assert lc.reason == "test"
