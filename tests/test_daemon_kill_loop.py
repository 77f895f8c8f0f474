"""A kill -9 loop on random pool children: every workflow completes, no pool is given up.

A real daemon (embedded endpoint, 2 deciders, 4 workers, ``min_uptime = 1``)
runs 30 ``Persistent`` workflows (swfd_testplugin): Sleep activities with a
2 s heartbeat timeout that the decider reschedules under a new activityId
whenever one times out or fails, and a 5 s decision task timeout so a decision
lost with its decider comes back. For ~20 s the test SIGKILLs one random live
pool child a second (only pids the log says the generation spawned for
worker:test or decider:test, and still its children), then stops and checks:
every workflow completed, the daemon still runs, every slot has a live
polling child again and the sd_notify STATUS names no degraded pool, killed
children were respawned ("respawning now"), and SIGTERM still exits 0.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import time

import pytest
from test_daemon_support import Daemon, attrs, pid_alive

from swfd.testing import wait_for

# Timing-sensitive: never side by side with the others of the group (pytest-xdist).
pytestmark = pytest.mark.xdist_group("timing")

SIZES = {"decider:test": 2, "worker:test": 4}
POOLS = "".join(f"[{group}]\ntask_list = test\nprocesses = {n}\n\n"
                for group, n in SIZES.items())
WORKFLOWS = 30
KILL_FOR = 20.0      # seconds of killing
MAX_KILLS = 25       # ... and never more kills than this
KILL_EVERY = (0.8, 1.2)


def _ppid(pid: int) -> int | None:
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _live(d: Daemon, group: str, parent: int, ready: bool = False) -> list[int]:
    """Pids the log says were spawned for ``group`` that still run as ``parent``'s children."""
    pids = d.ready_children(group) if ready else d.children(group)
    return [p for p in pids if pid_alive(p) and _ppid(p) == parent]


def _statuses(d: Daemon) -> list[str]:
    """Every STATUS= the supervisor sent so far, oldest first."""
    return [line[len("STATUS="):] for message in d.notifications()
            for line in message.splitlines() if line.startswith("STATUS=")]


def test_kill_9_loop_on_random_children_every_workflow_completes_no_pool_given_up(daemon):
    seed = int(os.environ.get("SWFD_KILL_LOOP_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    began = time.monotonic()
    d = daemon(POOLS, extra="min_uptime = 1", poll_timeout=1.0,
               graceful_timeout=12).start().wait_ready()
    generation = int(wait_for(lambda: re.search(r"started generation 1 \(pid (\d+)\)",
                                                d.text()), 10,
                              message="the generation's pid").group(1))
    endpoint = int(re.search(r"started the local endpoint \(pid (\d+)\)", d.text()).group(1))
    untouchable = {d.proc.pid, generation, endpoint}
    wait_for(lambda: all(len(_live(d, g, generation, ready=True)) == n for g, n in SIZES.items()),
             30, message="every pool child polling")

    runs = []
    for i in range(WORKFLOWS):
        count = rng.choice((2, 3))
        spec = {"count": count, "heartbeat_timeout": 2,
                "seconds": [round(rng.uniform(0.5, 1.5), 2) for _ in range(count)]}
        runs.append((spec, d.start_workflow("Persistent", input=spec, workflow_id=f"kill-{i}")))

    # -- the kill loop ----------------------------------------------------------------
    kills: list[tuple[str, int]] = []
    loop_start = time.monotonic()
    while time.monotonic() - loop_start < KILL_FOR and len(kills) < MAX_KILLS:
        d.notifications()  # keep the datagram queue (10 deep) from dropping STATUS lines
        assert d.proc.poll() is None, f"the daemon exited {d.proc.returncode}"
        candidates = [(g, p) for g in SIZES for p in _live(d, g, generation)]
        if candidates:
            group, pid = rng.choice(candidates)
            assert pid not in untouchable
            os.kill(pid, signal.SIGKILL)
            kills.append((group, pid))
        time.sleep(rng.uniform(*KILL_EVERY))
    loop_end, loop_end_wall = time.monotonic(), time.time()

    # -- every workflow completes ---------------------------------------------------
    infos: dict[str, dict] = {}

    def all_closed():
        d.notifications()
        for _, run in runs:
            if run["workflowId"] not in infos:
                info = d.client.describe_workflow_execution(
                    domain=d.domain, execution=run)["executionInfo"]
                if info["executionStatus"] != "CLOSED":
                    return False
                infos[run["workflowId"]] = info
        return True

    wait_for(all_closed, 120, message=f"all {WORKFLOWS} workflows closed "
             f"(seed {seed}, {len(kills)} kills)")
    closed_after = max(i["closeTimestamp"].timestamp() for i in infos.values()) - loop_end_wall
    failed = {run["workflowId"]: [(e["eventType"], attrs(e)) for e in d.history(run)
                                  if e["eventType"].startswith("WorkflowExecution")]
              for _, run in runs if infos[run["workflowId"]].get("closeStatus") != "COMPLETED"}
    assert not failed, f"seed {seed}: workflows that did not complete: {failed}"

    rescheduled = timed_out = decision_timeouts = 0
    for spec, run in runs:
        events = d.history(run)
        result = json.loads(attrs(events[-1])["result"])
        assert sorted(result) == [f"act-{i}" for i in range(spec["count"])], result
        for i, outcome in enumerate(result[f"act-{i}"] for i in range(spec["count"])):
            assert outcome["result"]["slept"] == spec["seconds"][i]
            rescheduled += outcome["attempts"] - 1
        types = [e["eventType"] for e in events]
        timed_out += types.count("ActivityTaskTimedOut")
        decision_timeouts += types.count("DecisionTaskTimedOut")

    # -- the pools are back to full strength, and nothing was given up ------------------
    assert d.proc.poll() is None, f"the daemon exited {d.proc.returncode}:\n{d.text()[-3000:]}"
    statuses: list[str] = []

    def full_strength():
        statuses[:] = _statuses(d)
        if not all(len(_live(d, g, generation, ready=True)) == n for g, n in SIZES.items()):
            return False
        return bool(statuses) and "degraded" not in statuses[-1]

    try:
        wait_for(full_strength, 30, message="every slot polling again, STATUS not degraded")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last STATUS {statuses[-1:]}") from None
    assert "2 deciders, 4 workers running" in statuses[-1], statuses[-1]
    assert _ppid(generation) == d.proc.pid, "the generation was replaced"

    text = d.text()
    for word in ("give_up", "gave up", "giving up", "boot failures in a row (give_up_after",
                 "stopping this generation", "starting a new generation"):
        assert word not in text, f"{word!r} in the log:\n{text[-3000:]}"
    assert len(re.findall(r"started generation \d+", text)) == 1
    # "<pool> pid N died in service (killed by SIGKILL) after 3.1s; respawning now", or a
    # boot failure: "<pool> pid N died ... (killed by SIGKILL, ...): boot failure ...".
    deaths = re.findall(r"swfd\.arbiter: (\S+) pid (\d+) [^(\n]*\(killed by SIGKILL(.*)$",
                        text, re.MULTILINE)
    in_service = [x for x in deaths if x[2].endswith("respawning now")]
    boot_failed = [x for x in deaths if "boot failure" in x[2]]
    assert in_service, "no respawn of a child that had served"
    assert len(in_service) + len(boot_failed) == len(deaths), deaths
    exits = {int(pid): group for group, pid, _ in deaths}
    for group, pid in kills:
        assert exits.get(pid) == group, f"killed {group} pid {pid}: no exit logged"
    # No pool child died but the ones the test killed, and each kill was replaced once.
    assert sorted(exits) == sorted(pid for _, pid in kills)
    for group, n in SIZES.items():
        assert len(d.children(group)) == n + sum(g == group for g, _ in kills), group

    print(f"\nkill loop (seed {seed}): {len(kills)} kills in {loop_end - loop_start:.1f}s "
          f"({sum(g == 'worker:test' for g, _ in kills)} workers, "
          f"{sum(g == 'decider:test' for g, _ in kills)} deciders; {len(in_service)} respawned "
          f"at once, {len(boot_failed)} as boot failures); {rescheduled} activities "
          f"rescheduled, {timed_out} activity and {decision_timeouts} decision task timeouts; "
          f"last workflow closed {closed_after:+.1f}s after the loop; "
          f"full strength {time.monotonic() - loop_end:.1f}s after it")

    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0
    print(f"total {time.monotonic() - began:.1f}s")
