"""Engine unit tests: SQLite durability, restart, kill -9, the database lock, schema version."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from test_engine_support import (
    attrs,
    decide,
    decision,
    describe,
    history,
    make_engine,
    poll_activity,
    poll_decision,
    schedule,
    start,
    types,
)

from swfd.local.engine import EndpointLockedError, Engine, SchemaVersionError
from swfd.local.faults import SWFFault
from swfd.testing import wait_for


def test_second_engine_on_the_same_file_is_refused(tmp_path):
    db = str(tmp_path / "swf.sqlite3")
    first = Engine(db, poll_timeout=0.1)
    try:
        with pytest.raises(EndpointLockedError, match="swf.sqlite3"):
            Engine(db)
    finally:
        first.close()
    Engine(db).close()  # released on close


def test_newer_schema_is_refused(tmp_path):
    db = str(tmp_path / "swf.sqlite3")
    Engine(db).close()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(SchemaVersionError, match="schema version 99"):
        Engine(db)


def test_restart_keeps_executions_tokens_and_queued_tasks(tmp_path):
    db = str(tmp_path / "swf.sqlite3")
    engine = make_engine(db)
    run_id = start(engine)
    decide(engine, poll_decision(engine)["taskToken"], schedule("a1"), schedule("a2"),
           decision("StartTimer", timerId="t", startToFireTimeout="100"))
    act = poll_activity(engine)
    engine.close()

    engine = Engine(db, poll_timeout=0.1)
    try:
        # The started task's token still works; the queued one is still queued.
        assert engine.call("RecordActivityTaskHeartbeat",
                           {"taskToken": act["taskToken"]}) == {"cancelRequested": False}
        engine.call("RespondActivityTaskCompleted", {"taskToken": act["taskToken"]})
        assert poll_activity(engine)["activityId"] == "a2"
        counts = describe(engine, run_id)["openCounts"]
        assert counts["openTimers"] == 1 and counts["openActivityTasks"] == 1
        task = poll_decision(engine)
        assert task["previousStartedEventId"] == 3
        decide(engine, task["taskToken"], decision("CompleteWorkflowExecution"))
        assert types(history(engine, run_id))[-1] == "WorkflowExecutionCompleted"
    finally:
        engine.close()


def test_restart_keeps_every_member_of_an_execution(tmp_path):
    """The state written after a change of a member set at start (the task list, by a
    decision's override) is what a restart reads: the next decision task goes to the
    new list. And every member of Execution is written: in the members encoded once,
    in those encoded at every write, or in a table of its own."""
    import dataclasses

    from swfd.local import state

    serialised = (set(state._FIXED_IN_STATE) | set(state._CHANGING_IN_STATE)
                  | {"timers", "children", "decision"})
    members = {f.name for f in dataclasses.fields(state.Execution)}
    assert members == serialised | set(state._NOT_IN_STATE)
    assert not set(state._FIXED_IN_STATE) & set(state._CHANGING_IN_STATE)
    assert not serialised & set(state._NOT_IN_STATE)

    db = str(tmp_path / "swf.sqlite3")
    engine = make_engine(db)
    run_id = start(engine, tagList=["a"])
    engine.call("RespondDecisionTaskCompleted", {
        "taskToken": poll_decision(engine)["taskToken"], "decisions": [],
        "taskList": {"name": "moved"}})
    before = engine.open_runs[run_id]
    assert before.task_list == "moved"
    engine.close()
    engine = Engine(db, poll_timeout=0.1)
    try:
        after = engine.open_runs[run_id]
        assert after.to_json() == before.to_json()
        engine.call("SignalWorkflowExecution", {"domain": "d", "workflowId": "w1",
                                                "signalName": "s"})
        assert poll_decision(engine, "moved")["startedEventId"] > 0
    finally:
        engine.close()


def test_timers_that_came_due_while_down_fire_on_start(tmp_path):
    db = str(tmp_path / "swf.sqlite3")
    engine = make_engine(db)
    run_id = start(engine)
    decide(engine, poll_decision(engine)["taskToken"],
           decision("StartTimer", timerId="t", startToFireTimeout="1"))
    engine.close()
    time.sleep(1.2)  # the endpoint is down while the timer comes due (that is the point)
    engine = Engine(db, poll_timeout=0.1)
    try:
        wait_for(lambda: "TimerFired" in types(history(engine, run_id)), timeout=2,
                 interval=0.02, message="TimerFired after restart")
    finally:
        engine.close()


_CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_engine_support import (make_engine, start, poll_decision, poll_activity,
                                     decide, schedule)
    engine = make_engine({db!r})
    pragmas = [engine.store.db.execute(f"PRAGMA {{name}}").fetchone()[0]
               for name in ("journal_mode", "synchronous")]
    run_id = start(engine)
    decide(engine, poll_decision(engine)["taskToken"], schedule("a1"), schedule("a2"))
    token = poll_activity(engine)["taskToken"]  # changes events and the activity, not the row
    print(run_id, token, *pragmas, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_kill_9_loses_nothing_acknowledged(tmp_path):
    """WAL with synchronous=NORMAL: a commit is in the WAL (the OS's page cache) before
    the call answers, so kill -9 of the process loses nothing acknowledged (a power
    loss may lose the last commits: README, "Durability")."""
    db = str(tmp_path / "swf.sqlite3")
    code = _CHILD.format(tests=os.path.dirname(__file__), db=db)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    run_id, token, journal_mode, synchronous = proc.stdout.split()
    assert (journal_mode, synchronous) == ("wal", "1")  # 1: NORMAL
    engine = Engine(db, poll_timeout=0.1)  # the dead process's lock is gone with it
    try:
        assert types(history(engine, run_id))[-1] == "ActivityTaskStarted"
        assert poll_activity(engine)["activityId"] == "a2"  # a1 stays started, not queued
        engine.call("RespondActivityTaskCompleted", {"taskToken": token})  # a1's token works
        done = [e for e in history(engine, run_id) if e["eventType"] == "ActivityTaskCompleted"]
        assert [attrs(e)["scheduledEventId"] for e in done] == [5]
    finally:
        engine.close()


def test_a_failed_transaction_leaves_no_trace(tmp_path, monkeypatch):
    db = str(tmp_path / "swf.sqlite3")
    engine = make_engine(db)
    try:
        run_id = start(engine)
        task = poll_decision(engine)

        def broken(*args, **kwargs):
            raise RuntimeError("injected")

        monkeypatch.setattr(engine, "_d_RecordMarker", broken)
        with pytest.raises(SWFFault) as failed:  # logged, answered 500 InternalFailure
            decide(engine, task["taskToken"], schedule("a1"), decision("RecordMarker",
                                                                       markerName="m"))
        assert (failed.value.code, failed.value.status) == ("InternalFailure", 500)
        monkeypatch.undo()
        assert len(history(engine, run_id)) == 3
        assert "taskToken" not in poll_activity(engine)
        decide(engine, task["taskToken"], schedule("a1"))
        assert poll_activity(engine)["activityId"] == "a1"
    finally:
        engine.close()


def test_memory_database_needs_no_lock():
    a, b = Engine(":memory:"), Engine(":memory:")
    a.close()
    b.close()
    with pytest.raises(SWFFault):
        a.call("ListDomains", {"registrationStatus": "REGISTERED"})


def test_close_wakes_waiting_polls_with_an_empty_answer():
    import threading

    engine = make_engine(poll_timeout=30.0)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(poll_decision(engine)))
               for _ in range(3)]
    for t in threads:
        t.start()
    wait_for(lambda: len(engine.queues.get("D", "d", "tl").cond._waiters) == 3, timeout=5,
             interval=0.01, message="3 polls waiting")
    t0 = time.monotonic()
    engine.close()
    for t in threads:
        t.join(5)
    assert time.monotonic() - t0 < 2
    assert [a.get("taskToken") for a in answers] == [None, None, None]


def test_schema_1_database_is_upgraded(tmp_path):
    """A database of the first layout (activities inside the state) keeps its open work."""
    import json

    db = str(tmp_path / "swf.sqlite3")
    engine = make_engine(db)
    run_id = start(engine)
    decide(engine, poll_decision(engine)["taskToken"], schedule("a1"))
    engine.close()
    conn = sqlite3.connect(db)  # rewrite it as schema 1 had it
    body = conn.execute("SELECT body FROM activities").fetchone()[0]
    state = json.loads(conn.execute("SELECT state FROM executions").fetchone()[0])
    state["activities"] = {"a1": json.loads(body)}
    conn.executescript("DROP TABLE activities; DROP INDEX executions_closed_by_start;"
                       "DROP INDEX executions_closed_by_close;"
                       "ALTER TABLE executions DROP COLUMN seq;"
                       "ALTER TABLE executions DROP COLUMN parent_wid;"
                       "ALTER TABLE executions DROP COLUMN parent_rid;"
                       "ALTER TABLE executions DROP COLUMN cancel_requested;"
                       "PRAGMA user_version=1;")
    conn.execute("UPDATE executions SET state=?", (json.dumps(state),))
    conn.commit()
    conn.close()
    engine = Engine(db, poll_timeout=0.1)
    try:
        assert poll_activity(engine)["activityId"] == "a1"
        assert describe(engine, run_id)["openCounts"]["openActivityTasks"] == 1
    finally:
        engine.close()
