"""SIGINT stops fast: tasks in flight are failed with swfd-shutdown at once."""

from __future__ import annotations

import signal
import time

from test_daemon_support import Daemon, attrs

from swfd.testing import wait_for


def test_int_fails_tasks_in_flight_with_swfd_shutdown_at_once(tmp_path):
    d = Daemon(tmp_path, "[decider:test]\ntask_list = test\n\n"
                         "[worker:test]\ntask_list = test\nprocesses = 2\n")
    try:
        d.start().wait_ready()
        run = d.start_workflow(input={"activity": "Sleep", "input": {"seconds": 120},
                                      "count": 2})
        wait_for(lambda: d.count(run, "ActivityTaskStarted") == 2, 30, message="2 in flight")
        start = time.monotonic()
        d.signal(signal.SIGINT)
        assert d.wait(30) == 0
        assert time.monotonic() - start < 10  # the heartbeat timeout is 10 s: no waiting on it
        d.reopen()
        reasons = [attrs(e)["reason"] for e in d.history(run)
                   if e["eventType"] == "ActivityTaskFailed"]
        assert reasons == ["swfd-shutdown", "swfd-shutdown"]
        assert "ActivityTaskTimedOut" not in d.event_types(run)
        assert "SIGINT: fast stop of 3 children" in d.text()
    finally:
        d.close()
