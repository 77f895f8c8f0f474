"""Start and stop the three workers under test, as process trees we own.

``raw``: one ``bench.rawworker`` process per slot. ``swfd``: ``bench.swfd_launch``
(imports, ``gc.freeze()``, forks the slots like a generation). ``swfd-standalone``:
the same worker loop unforked. ``swfd-daemon``: the real ``swfd --config`` daemon
with one worker pool (its tree includes the supervisor and generation). ``simpleflow``:
``simpleflow worker.start -N slots`` (a supervisor, one poller per slot, one forked
child per task), pointed at the endpoint with ``AWS_ENDPOINT_URL_SWF``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from bench.driver import ROOT, bench_env
from bench.procs import all_stats, die_with_parent, read_stat, tree_cpu_precise, tree_pids

KINDS = ("raw", "swfd", "simpleflow")


class NotMeasured(Exception):
    """A figure's subject cannot run here; the message says why (shown in the table)."""


def swfd_config(path: str, url: str, domain: str, task_list: str, processes: int,
                log_level: str = "WARNING", pool_kind: str = "worker", extra: str = "") -> str:
    """A one-pool swfd config against an endpoint URL; the plugin comes from SWFD_PLUGINS;
    ``extra`` lines go in the pool's section."""
    with open(path, "w") as f:
        f.write(f"""[swfd]
domain = {domain}
region = us-east-1
endpoint_url = {url}
identity = bench:{{pid}}:{{pool}}
plugins =
log_format = json
log_level = {log_level}

[{pool_kind}:bench]
task_list = {task_list}
processes = {processes}
""" + ("heartbeat_interval = 30\n" if pool_kind == "worker" else "") + extra)
    return path


def simpleflow_command() -> list[str] | None:
    """How to run simpleflow's CLI, or None when it is not installed."""
    beside = os.path.join(os.path.dirname(sys.executable), "simpleflow")
    if os.path.exists(beside):
        return [beside]
    found = shutil.which("simpleflow")
    return [found] if found else None


@dataclass
class Workers:
    kind: str
    procs: list[subprocess.Popen]
    slots: int
    log: str

    @property
    def roots(self) -> list[int]:
        return [p.pid for p in self.procs]

    def pids(self) -> list[int]:
        stats = all_stats()
        return sorted({pid for root in self.roots for pid in tree_pids(root, stats)})

    def cpu(self) -> float:
        return tree_cpu_precise(self.roots)

    def worker_pids(self) -> list[int]:
        """The processes that poll: the slots (not the launcher or the supervisor)."""
        if self.kind in ("swfd", "swfd-daemon", "simpleflow"):
            root = self.roots[0]
            return sorted(p for p in self.pids() if (st := read_stat(p)) and st.ppid == root)
        return self.roots

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{self.kind} worker exited with {proc.returncode}; log: "
                                   f"{tail(self.log)}")

    def stop(self) -> None:
        """SIGKILL every process of our trees (descendants first); nothing they hold matters."""
        pids = self.pids()
        for pid in reversed(pids):
            if pid not in self.roots:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def tail(path: str, chars: int = 800) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()[-chars:]
    except OSError:
        return "(no log)"


def start(kind: str, url: str, domain: str, task_list: str, slots: int, tmpdir: str,
          log_level: str = "WARNING", pool_kind: str = "worker", extra: str = "") -> Workers:
    """Start ``slots`` worker processes of ``kind`` polling ``task_list``."""
    log = os.path.join(tmpdir, f"{kind}-{task_list}.log")
    env = bench_env(SWFD_PLUGINS="bench.swfd_plugin", LOG_LEVEL=log_level,
                    AWS_ENDPOINT_URL_SWF=url)
    with open(log, "w") as out:
        if kind == "raw":
            procs = [subprocess.Popen(
                [sys.executable, "-m", "bench.rawworker", url, domain, task_list], stdout=out,
                stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                preexec_fn=die_with_parent,  # noqa: PLW1509
            ) for _ in range(slots)]
        elif kind in ("swfd", "swfd-standalone", "swfd-daemon"):
            config = swfd_config(os.path.join(tmpdir, f"{kind}-{task_list}.ini"), url, domain,
                                 task_list, slots, log_level, pool_kind, extra)
            args = [sys.executable, "-m", "bench.swfd_launch", config]
            if kind == "swfd-standalone":
                args.append("--standalone")
            elif kind == "swfd-daemon":  # the real daemon, a worker pool only
                try:
                    from swfd.supervisor import run  # noqa: F401
                except Exception as exc:
                    raise NotMeasured(f"swfd.supervisor not available ({exc})") from exc
                args = [sys.executable, "-m", "swfd.cli", "--config", config]
            procs = [subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                      cwd=ROOT,
                                      preexec_fn=die_with_parent)]  # noqa: PLW1509
        elif kind == "simpleflow":
            command = simpleflow_command()
            if command is None:
                raise NotMeasured("simpleflow is not installed (pip install -e '.[bench]')")
            procs = [subprocess.Popen(command + ["worker.start", "--domain", domain,
                                                 "--task-list", task_list, "--nb-processes",
                                                 str(slots), "--heartbeat", "60"],
                                      stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                      preexec_fn=die_with_parent)]  # noqa: PLW1509
        else:
            raise ValueError(f"unknown worker kind {kind!r}")
    workers = Workers(kind, procs, slots, log)
    if kind in ("swfd", "swfd-daemon", "simpleflow"):  # wait for the forked slots (bounded)
        deadline = time.monotonic() + 30
        while len(workers.worker_pids()) < slots:
            workers.check_alive()
            if time.monotonic() > deadline:
                workers.stop()
                raise TimeoutError(f"{kind}: {slots} worker processes not forked in 30 s; "
                                   f"log: {tail(log)}")
            time.sleep(0.05)
    return workers
