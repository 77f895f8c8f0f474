"""Engine unit tests: what each call writes to SQLite, and the event JSON answers reuse.

Why: a call writes only what it changed (an open execution's row is rewritten
narrowly, and not at all when its state is unchanged), and an event is encoded
once, when it is written, then sent as those bytes in every page that carries
it. These tests pin that the database still says exactly what memory says, so
a restart (or kill -9, tests/test_engine_durability.py) rebuilds the same state.
"""

from __future__ import annotations

import json
import sqlite3

from test_engine_support import (
    decide,
    decision,
    history,
    make_engine,
    poll_activity,
    poll_decision,
    schedule,
    start,
)

from swfd.local.engine import Engine
from swfd.local.state import Event, EventList
from swfd.local.summaries import encode


def _row(database: str, run_id: str) -> tuple:
    db = sqlite3.connect(database)
    try:
        return db.execute("SELECT state, is_open, close_status, cancel_requested FROM executions"
                          " WHERE run_id=?", (run_id,)).fetchone()
    finally:
        db.close()


def test_the_execution_row_says_what_memory_says_after_every_call(tmp_path):
    database = str(tmp_path / "swf.sqlite3")
    engine = make_engine(database)
    statements: list[str] = []
    engine.store.db.set_trace_callback(statements.append)
    try:
        run_id = start(engine)
        ex = engine.open_runs[run_id]

        def check() -> list[str]:
            state, is_open, close_status, cancel_requested = _row(database, run_id)
            assert json.loads(state) == json.loads(ex.to_json())
            assert (is_open, close_status) == (1 if ex.is_open else 0, ex.close_status)
            assert cancel_requested == (1 if ex.cancel_requested else 0)
            written = [s for s in statements if "executions" in s]
            statements.clear()
            return written

        check()
        decide(engine, poll_decision(engine)["taskToken"], schedule("a1"))
        assert all(s.startswith("UPDATE executions SET state=") for s in check())
        task = poll_activity(engine)  # only an event and the activity change
        assert check() == []
        engine.call("RequestCancelWorkflowExecution", {"domain": "d", "workflowId": "w1"})
        check()
        engine.call("RespondActivityTaskCompleted", {"taskToken": task["taskToken"]})
        check()
        decide(engine, poll_decision(engine)["taskToken"],
               decision("CompleteWorkflowExecution"))
        assert ex.close_status == "COMPLETED"
        state, is_open, close_status, _ = _row(database, run_id)
        assert (is_open, close_status) == (0, "COMPLETED")
        assert json.loads(state)["close_status"] == "COMPLETED"
    finally:
        engine.close()


def test_answers_send_each_event_as_it_was_stored(tmp_path):
    database = str(tmp_path / "swf.sqlite3")
    engine = make_engine(database)
    try:
        run_id = start(engine)
        task = poll_decision(engine)
        assert isinstance(task["events"], EventList)
        assert all(isinstance(e, Event) and e.json for e in task["events"])
        body = json.loads(encode(task))
        assert body["events"] == [dict(e) for e in task["events"]]
        assert body["taskToken"] == task["taskToken"]
        decide(engine, task["taskToken"], schedule("a1"),
               decision("RecordMarker", markerName="m", details="ü \u2028 \"quoted\""))
        open_page = json.loads(encode({"events": history(engine, run_id)}))["events"]
        engine.call("TerminateWorkflowExecution", {"domain": "d", "workflowId": "w1"})
    finally:
        engine.close()
    engine = Engine(database, poll_timeout=0.1)  # closed now: read back from SQLite
    try:
        closed = history(engine, run_id)
        assert all(isinstance(e, Event) and e.json for e in closed)
        assert json.loads(encode({"events": closed}))["events"] == [dict(e) for e in closed]
        assert [dict(e) for e in closed[:len(open_page)]] == open_page
        reverse = engine.call("GetWorkflowExecutionHistory", {
            "domain": "d", "execution": {"workflowId": "w1", "runId": run_id},
            "reverseOrder": True, "maximumPageSize": 2})
        assert [e["eventId"] for e in json.loads(encode(reverse))["events"]] == \
            [closed[-1]["eventId"], closed[-2]["eventId"]]
    finally:
        engine.close()


def test_an_event_not_yet_stored_is_encoded_on_the_way_out():
    plain = {"eventId": 1, "eventType": "X", "eventTimestamp": 1.5}
    stored = Event(plain, eventId=2)
    stored.json = json.dumps(dict(stored), separators=(",", ":"))
    body = encode({"nextPageToken": "t", "events": EventList([plain, stored])})
    assert json.loads(body) == {"nextPageToken": "t", "events": [plain, dict(stored)]}
    assert json.loads(encode({"events": EventList()})) == {"events": []}
