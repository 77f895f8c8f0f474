"""Figure 1b: where a worker's CPU per task goes, with the network and the server taken out.

Figure 1 measures whole processes against the real endpoint; its ratios move with
the load on the machine. This one runs in the harness's own process and is meant
for profiling: the real loop a worker child runs (``ActivityPoller.run``: poll,
``ActivityTask``, the log lines, the scoreboard, the title, the heartbeat thread
and the answer) and the raw boto3 loop, each on a real botocore client whose
requests a ``before-send`` handler answers from canned bodies. What is left is the
client side of a task: botocore's request pipeline (parameter checks, endpoint
rules, signing, parsing) and whatever swfd adds. Then the cost of each piece swfd
adds per task, alone (bench/README.md, "The worker's per-task path", justifies each
by these figures).

    python -m bench.worker_path        # prints the table

Figure 1c, :func:`instructions`: the same loops under ``valgrind --tool=callgrind``,
instructions per task as the difference between a run of 250 and one of 50 tasks
(start-up and warm-up cancel out). CPU time on a shared virtual machine moves by
±15-20 % from round to round with what its neighbours do; instruction counts do not
(repeat runs agree within ~0.1 %), so they say which way a change goes. They miss
what costs time but not instructions (cache misses, the kernel).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace
from typing import Any, Callable

from bench.tasks import ACTIVITY_NAME, ACTIVITY_VERSION

ACTIVITY_TASK = json.dumps({
    "taskToken": "t" * 800, "activityId": "a-1", "startedEventId": 7,
    "workflowExecution": {"workflowId": "bench-" + "w" * 30, "runId": "r" * 44},
    "activityType": {"name": ACTIVITY_NAME, "version": ACTIVITY_VERSION},
    "input": "{}"}).encode()
CREDENTIALS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, *_args: Any, **_kwargs: Any):
        yield self.body


def canned_answer(request: Any, **_: Any) -> Any:
    """SWF's answers to a worker, without the socket: a task for every poll."""
    from botocore.awsrequest import AWSResponse

    operation = request.headers["X-Amz-Target"].decode().rsplit(".", 1)[1]
    body = {"PollForActivityTask": ACTIVITY_TASK,
            "RecordActivityTaskHeartbeat": b'{"cancelRequested":false}'}.get(operation, b"")
    return AWSResponse(request.url, 200, {"x-amzn-RequestId": "bench"}, _Raw(body))


def stock_client() -> Any:
    """What the raw loop uses: boto3's defaults."""
    import boto3

    client = boto3.client("swf", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                          **CREDENTIALS)
    client.meta.events.register("before-send.swf", canned_answer)
    return client


def swfd_client() -> Any:
    """The client a worker child makes (botocore's request checks off, as in ActivityPoller)."""
    from swfd.swf.client import make_client
    from swfd.worker import ActivityPoller

    client = make_client("http://127.0.0.1:9", "us-east-1", credentials=CREDENTIALS,
                         validate_params=ActivityPoller.validate_requests)
    client.meta.events.register("before-send.swf", canned_answer)
    return client


def raw_tasks(n: int) -> float:
    """bench/rawworker.py's loop, ``n`` times; the loop's CPU seconds."""
    client = stock_client()
    t0 = time.process_time()
    for _ in range(n):
        task = client.poll_for_activity_task(domain="bench", taskList={"name": "bench"},
                                             identity="raw")
        client.respond_activity_task_completed(taskToken=task["taskToken"])
    return time.process_time() - t0


def swfd_tasks(n: int, log_format: str = "json", log_level: str = "INFO") -> float:
    """``n`` tasks through the real ActivityPoller loop (it recycles after ``n``), with
    a real scoreboard file, swfd's logging to a file, the heartbeat thread running;
    the loop's CPU seconds (the process's: the heartbeat thread's included)."""
    from swfd import logs
    from swfd.config import PoolSettings
    from swfd.lifecycle import Lifecycle
    from swfd.plugins import load_plugins
    from swfd.scoreboard import Scoreboard, ScoreboardSlot
    from swfd.worker import ActivityPoller

    tmp = tempfile.mkdtemp(prefix="swfd-bench-path-")
    board = ScoreboardSlot(Scoreboard.create(os.path.join(tmp, "board"), 1), 0,
                           pool="worker:bench", slot=0)
    pool = PoolSettings(kind="worker", name="bench", task_list="bench", section="worker:bench",
                        heartbeat_interval=30, max_tasks_per_child=n)
    settings = SimpleNamespace(domain="bench", proctitle_tasks=False)
    registry = load_plugins([], modules=["bench.swfd_plugin"])
    saved = sys.stderr
    with open(os.path.join(tmp, "log"), "w") as sink:
        sys.stderr = sink
        try:
            logs.setup(log_format, log_level, pool="worker:bench")
            poller = ActivityPoller(settings, pool, registry, Lifecycle(), swfd_client(),
                                    "bench", board=board)
            t0 = time.process_time()
            poller.run()
            cpu = time.process_time() - t0
        finally:
            sys.stderr = saved
            logs.setup("text", "WARNING")
    with open(os.path.join(tmp, "log")) as lines:
        if "failed" in lines.read() or poller.tasks_done != n:
            raise RuntimeError(f"the worker did not complete its {n} tasks: see {tmp}/log")
    return cpu


def per_call(fn: Callable[[], Any], n: int) -> float:
    """Microseconds of CPU per call of ``fn`` (after a warm-up)."""
    for _ in range(min(n, 50)):
        fn()
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t0) / n * 1e6


def pieces(n: int) -> dict[str, float]:
    """CPU of each thing swfd does per task, alone (microseconds per task)."""
    import logging

    from swfd import logs
    from swfd.proctitle import set_title
    from swfd.scoreboard import Scoreboard, ScoreboardSlot
    from swfd.swf.retry import call

    out: dict[str, float] = {}
    client = swfd_client()
    params = {"domain": "bench", "taskList": {"name": "bench"}, "identity": "i"}
    out["poll, client method"] = per_call(lambda: client.poll_for_activity_task(**params), n)
    out["poll, through swfd.swf.retry.call"] = per_call(
        lambda: call(client, "PollForActivityTask", max_attempts=1, quiet=True, **params), n)
    stock = stock_client()
    out["poll, stock boto3 client"] = per_call(lambda: stock.poll_for_activity_task(**params), n)
    saved = sys.stderr
    sys.stderr = io.StringIO()
    try:
        extra = {"workflowId": "w" * 36, "runId": "r" * 44, "activityId": "a-1"}
        log = logging.getLogger("swfd.worker")
        for fmt in ("json", "text"):
            logs.setup(fmt, "INFO", pool="worker:bench")
            out[f"one INFO line, {fmt}"] = per_call(lambda: log.info(
                "activity %s %s completed in %.2f s", "noop", "1", 0.001, extra=extra), n)
            sys.stderr.seek(0)
            sys.stderr.truncate()
        logs.setup("json", "WARNING", pool="worker:bench")
        out["one INFO call below the level"] = per_call(lambda: log.info(
            "activity %s %s completed in %.2f s", "noop", "1", 0.001, extra=extra), n)
    finally:
        sys.stderr = saved
        logs.setup("text", "WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        slot = ScoreboardSlot(Scoreboard.create(os.path.join(tmp, "b"), 1), 0,
                              pool="worker:bench", slot=0)
        out["scoreboard write (task in hand)"] = per_call(lambda: slot.update(
            state="running", since=time.time(), type="noop/1",
            task={"workflowId": "w" * 36, "runId": "r" * 44, "activityId": "a-1"}), n)
    out.update(signing_pieces(n))
    titles = ("swfd worker:bench #0 idle", "swfd worker:bench #0 noop/1 0s")
    flip = [0]

    def title() -> None:
        flip[0] ^= 1
        set_title(titles[flip[0]])

    out["process title change"] = per_call(title, n)
    return out


def signing_pieces(n: int) -> dict[str, float]:
    """One request signed by botocore's SigV4 and by swfd's (the day's key kept)."""
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from swfd.swf.signing import CachedKeySigV4Auth

    credentials = Credentials(CREDENTIALS["aws_access_key_id"],
                              CREDENTIALS["aws_secret_access_key"])

    def signer(cls: type) -> Callable[[], None]:
        auth = cls(credentials, "swf", "us-east-1")

        def sign() -> None:
            auth.add_auth(AWSRequest(method="POST", url="http://127.0.0.1:9/", data=b"{}",
                                     headers={"X-Amz-Target": "x"}))
        return sign

    return {"SigV4 signature, botocore's": per_call(signer(botocore.auth.SigV4Auth), n),
            "SigV4 signature, swfd's (key kept for the day)": per_call(
                signer(CachedKeySigV4Auth), n)}


def run(n: int = 2000, rounds: int = 5) -> dict[str, Any]:
    """Interleaved rounds of ``n`` tasks: raw loop, swfd at WARNING (text), swfd at INFO
    (json), each round of each kind in a fresh process (:func:`one_round`); medians of
    the CPU per task; then the pieces, in this process.

    Why a process a round: in one long process every swfd round leaves its worker's
    heartbeat thread behind (ticking for 2 s, then asleep) and its client alive, and
    the later rounds of every kind ran beside them."""
    samples: dict[str, list[float]] = {k: [] for k in KINDS}
    for r in range(rounds):
        order = list(KINDS)[r % len(KINDS):] + list(KINDS)[:r % len(KINDS)]
        for kind in order:
            samples[kind].append(one_round(kind, n))
    result: dict[str, Any] = {k: statistics.median(v) for k, v in samples.items()}
    result["ranges"] = {k: (min(v), max(v)) for k, v in samples.items()}
    result["pieces"] = pieces(n)
    return result


def one_round(kind: str, n: int) -> float:
    """CPU microseconds per task of ``n`` tasks of ``kind``, after a warm-up of 100, in a
    fresh process."""
    return float(_loop_process(kind, n).stdout.split()[-1])


def _loop_process(kind: str, n: int, under: tuple[str, ...] = ()) -> Any:
    """``python -m bench.worker_path --time KIND N`` (optionally ``under`` a tool such as
    valgrind), finished; RuntimeError with its stderr's tail if it failed."""
    from bench.driver import ROOT, bench_env

    done = subprocess.run([*under, sys.executable, "-m", "bench.worker_path", "--time", kind,
                           str(n)], capture_output=True, text=True, cwd=ROOT,
                          env=bench_env(), timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(under[:2])} {kind!r} x{n}: exit {done.returncode}: "
                           f"{done.stderr[-400:]}")
    return done


KINDS: dict[str, Callable[[int], float]] = {
    "raw": raw_tasks,
    "swfd WARNING text": lambda k: swfd_tasks(k, "text", "WARNING"),
    "swfd INFO json": lambda k: swfd_tasks(k, "json", "INFO"),
}


def instructions(kind: str, few: int = 50, many: int = 250) -> float | None:
    """Figure 1c: instructions per task of ``kind`` (callgrind); None without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    counts = []
    for n in (few, many):
        done = _loop_process(kind, n, (valgrind, "--tool=callgrind",
                                       "--callgrind-out-file=/dev/null"))
        found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
        if found is None:
            raise RuntimeError(f"callgrind on {kind!r} x{n} reported no count: "
                               f"{done.stderr[-400:]}")
        counts.append(int(found.group(1)))
    return (counts[1] - counts[0]) / (many - few)


def main() -> int:
    if sys.argv[1:2] == ["--time"]:  # one loop in a process of its own: CPU us per task
        kind, n = sys.argv[2], int(sys.argv[3])
        KINDS[kind](100)
        print(KINDS[kind](n) / n * 1e6)
        return 0
    result = run()
    raw = result["raw"]
    for kind in ("raw", "swfd WARNING text", "swfd INFO json"):
        low, high = result["ranges"][kind]
        print(f"{kind:22s} {result[kind]:7.1f} us/task  {result[kind] / raw:.2f}x raw "
              f"(range {low:.0f}-{high:.0f})")
    for name, value in result["pieces"].items():
        print(f"  {name:40s} {value:7.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
