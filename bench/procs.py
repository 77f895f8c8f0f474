"""Process measurements from /proc (Linux), stdlib only, and process start/stop helpers.

CPU of a process *tree* is the sum, over its live members, of
utime+stime+cutime+cstime: a descendant that exited and was waited for is in
its waiting parent's cutime/cstime, a live one in its own utime/stime, so
nothing is counted twice and per-task children (simpleflow forks one per
task) are included once their parent has joined them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for every process the harness starts: SIGTERM when the harness dies,
    so an interrupted run leaves no endpoint or worker behind.

    (preexec_fn is unsafe only when other threads run at fork time; the harness
    starts processes only from its main thread while its client threads are joined.)
    """
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Stat:
    pid: int
    ppid: int
    state: str
    cpu_ticks: int  # utime + stime + cutime + cstime
    own_ticks: int  # utime + stime
    rss_bytes: int
    start_ticks: int = 0  # field 22: start time after boot, identifies a pid across reuse


def read_stat(pid: int) -> Stat | None:
    """One /proc/PID/stat, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2:].split()  # fields after "(comm)"
    # rest[0] = state (field 3), rest[1] = ppid, utime = field 14 -> rest[11]
    utime, stime, cutime, cstime = (int(x) for x in rest[11:15])
    return Stat(pid, int(rest[1]), rest[0], utime + stime + cutime + cstime, utime + stime,
                int(rest[21]) * PAGE, int(rest[19]))


def all_stats() -> dict[int, Stat]:
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = read_stat(int(name))
            if stat is not None:
                stats[stat.pid] = stat
    return stats


def tree_pids(root: int, stats: dict[int, Stat] | None = None) -> list[int]:
    """``root`` and its live descendants."""
    stats = all_stats() if stats is None else stats
    children: dict[int, list[int]] = {}
    for st in stats.values():
        children.setdefault(st.ppid, []).append(st.pid)
    found, todo = [], [root]
    while todo and len(found) < 10_000:
        pid = todo.pop()
        if pid in stats:
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def tree_cpu_seconds(roots: list[int]) -> float:
    """CPU seconds (user+sys, waited-for descendants included) of the trees under ``roots``."""
    stats, pids = _trees(roots)
    return sum(stats[p].cpu_ticks for p in pids) / CLK_TCK


def _trees(roots: list[int]) -> tuple[dict[int, Stat], set[int]]:
    """One reading of /proc, and the live pids of the trees under ``roots``."""
    stats = all_stats()
    pids: set[int] = set()
    for root in roots:
        pids.update(tree_pids(root, stats))
    return stats, pids


def tree_cpu_precise(roots: list[int]) -> float:
    """Like :func:`tree_cpu_seconds`, with each live process's own time from schedstat
    (nanoseconds, every thread) instead of 10 ms ticks; reaped children's time (a
    process-per-task worker's) still comes from the ticks, the only place it is kept.

    Why: /proc/PID/stat's user and system times are tick samples; over a batch of
    ~0.7 s they move in steps of 10 ms and by whichever thread a tick happens to
    land on, enough to swing a per-task figure by several per cent.
    """
    stats, pids = _trees(roots)
    reaped = sum(stats[p].cpu_ticks - stats[p].own_ticks for p in pids) / CLK_TCK
    return reaped + sum(thread_ns(p) for p in pids) / 1e9


def children_of(pid: int) -> list[int]:
    return sorted(st.pid for st in all_stats().values() if st.ppid == pid)


def smaps_rollup(pid: int) -> dict[str, int]:
    """Rss, Pss and USS (Private_Clean + Private_Dirty) in bytes from /proc/PID/smaps_rollup."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "kB":
                values[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return {
        "rss": values.get("Rss", 0),
        "pss": values.get("Pss", 0),
        "uss": values.get("Private_Clean", 0) + values.get("Private_Dirty", 0),
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def wait_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Wait until ``host:port`` accepts connections (bounded); fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before "
                               f"listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout:.0f} s")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
    """Signal one process we started (by pid), wait, SIGKILL it after ``timeout``."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.returncode


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def thread_ns(pid: int) -> int:
    """On-CPU nanoseconds of the live threads of ``pid`` (/proc/PID/task/*/schedstat).

    Finer than the 10 ms ticks of /proc/PID/stat: used for idle CPU, where a
    whole window may hold only a few milliseconds.
    """
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def comm(pid: int) -> str:
    """/proc/PID/comm (what ``set_process_name`` sets), or "" if the process is gone."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def cmdline(pid: int) -> list[str]:
    """/proc/PID/cmdline as argv, or [] if the process is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def voluntary_switches(pid: int) -> int:
    """Times the live threads of ``pid`` went to sleep (voluntary_ctxt_switches summed
    over /proc/PID/task/*/status): an idle process's wake-ups."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
                        break
        except (OSError, ValueError, IndexError):
            pass
    return total
