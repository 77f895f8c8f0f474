"""The local endpoint's database file: start-up checks, permissions, runtime errors, bulk work.

A file that is not SQLite, truncated, damaged or another program's stops
``swfd local`` with exit 2, the file named and what to do; a read-only
directory or file has its own message; what the endpoint creates is 0600 in
a 0700 directory; a zero-byte file is a new database. At run time a database
error fails that call (500 InternalFailure), is logged once a minute, and
timers back off instead of looping. Retention deletes in batches and
truncates the WAL; closed lists and counts come from summary columns.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import sqlite3
import stat
import subprocess
import sys
import time

import botocore.exceptions
import pytest
from conftest import make_boto3_client
from test_engine_support import make_engine, setup, start
from test_local_support import decision, poll_decision, register_workflow_type, respond, unique

from swfd.local.engine import DatabaseFileError, Engine
from swfd.local.server import LocalEndpoint
from swfd.local.store import SCHEMA_VERSION
from swfd.testing import free_port, wait_for


def _drop_root_file_override() -> None:
    """In the child, before exec: as root, lose CAP_DAC_OVERRIDE/READ_SEARCH so file modes
    apply (a read-only directory means something to the endpoint under test)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_local(database, *extra, timeout=30) -> subprocess.CompletedProcess:
    """``swfd local`` on ``database`` that must fail at start (or ``--check``)."""
    preexec = _drop_root_file_override if os.geteuid() == 0 else None
    return subprocess.run(
        [sys.executable, "-m", "swfd.local", "--port", str(free_port()), "--database",
         str(database), *extra],
        capture_output=True, text=True, timeout=timeout, preexec_fn=preexec,
        stdin=subprocess.DEVNULL, check=False,
    )


def _populated(path, executions=200) -> str:
    """A real endpoint database with some history in it, closed cleanly."""
    engine = make_engine(str(path))
    for i in range(executions):
        start(engine, f"w{i}", input="x" * 200)
        engine.call("TerminateWorkflowExecution", {"domain": "d", "workflowId": f"w{i}"})
    engine.close()
    return str(path)


def _refused(result, database, *words) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    message = result.stderr.strip()
    assert message.startswith(f"swfd local: database {database}: "), message
    assert "\n" not in message, message
    for word in words:
        assert word in message, message
    return message


# -- start-up checks ------------------------------------------------------------------


def test_a_file_that_is_not_sqlite_is_refused_naming_it(tmp_path):
    database = tmp_path / "notes.sqlite3"
    database.write_text("these are someone's notes, not a database\n" * 50)
    _refused(run_local(database), database, "not an SQLite database",
             "restore it from a backup", f"swfd local --check {database}")
    assert database.read_text().startswith("these are")  # untouched


def test_a_truncated_database_is_refused(tmp_path):
    database = _populated(tmp_path / "swf.sqlite3")
    size = os.path.getsize(database)
    with open(database, "r+b") as handle:
        handle.truncate(size // 2)
    _refused(run_local(database), database, "truncated", f"the file has {size // 2}")


def test_another_programs_sqlite_file_is_refused_untouched(tmp_path):
    database = tmp_path / "app.db"
    conn = sqlite3.connect(database)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.commit()
    conn.close()
    _refused(run_local(database), database, "not an swfd local endpoint database",
             "invoices")
    tables = [r[0] for r in sqlite3.connect(database).execute(
        "SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables == ["invoices"]


def test_a_damaged_page_is_found_at_start_and_by_check(tmp_path):
    database = _populated(tmp_path / "swf.sqlite3", executions=400)
    page_size = sqlite3.connect(database).execute("PRAGMA page_size").fetchone()[0]
    pages = os.path.getsize(database) // page_size
    assert run_local(database, "--check", database).returncode == 0
    with open(database, "r+b") as handle:  # scribble over a page in the middle
        handle.seek(page_size * (pages // 2))
        handle.write(os.urandom(page_size))
    _refused(run_local(database), database, "restore it from a backup")
    checked = run_local(database, "--check", database)
    assert checked.returncode == 2 and str(database) in checked.stderr


def test_check_reports_ok_and_exits_0(tmp_path):
    database = _populated(tmp_path / "swf.sqlite3", executions=5)
    checked = run_local(database, "--check", database)
    assert checked.returncode == 0, checked.stderr
    assert f"database {database}: integrity_check ok" in checked.stdout


def test_a_read_only_directory_has_its_own_message(tmp_path):
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o500)
    try:
        message = _refused(run_local(directory / "swf.sqlite3"), directory / "swf.sqlite3",
                           f"the directory {directory} is read-only")
        assert "port" not in message
    finally:
        directory.chmod(0o700)


def test_a_read_only_file_has_its_own_message(tmp_path):
    database = _populated(tmp_path / "swf.sqlite3", executions=1)
    os.chmod(database, 0o400)
    _refused(run_local(database), database, "the file is read-only")


def test_files_are_created_0600_in_a_0700_directory(tmp_path):
    database = tmp_path / "new" / "state" / "swf.sqlite3"
    endpoint = LocalEndpoint(database=str(database), poll_timeout=1.0).start()
    try:
        client = make_boto3_client(endpoint.url)
        client.register_domain(name="d", workflowExecutionRetentionPeriodInDays="1")
        mode = lambda path: stat.S_IMODE(os.stat(path).st_mode)
        assert mode(database.parent) == 0o700
        for suffix in ("", "-wal", "-shm", ".lock"):
            path = f"{database}{suffix}"
            assert os.path.exists(path), path
            assert mode(path) == 0o600, (path, oct(mode(path)))
    finally:
        endpoint.stop()


def test_a_zero_byte_file_is_a_new_database(tmp_path, caplog):
    database = tmp_path / "swf.sqlite3"
    database.touch(mode=0o600)
    caplog.set_level(logging.INFO, logger="swfd.local")
    endpoint = LocalEndpoint(database=str(database), poll_timeout=1.0).start()
    try:
        client = make_boto3_client(endpoint.url)
        client.register_domain(name="d", workflowExecutionRetentionPeriodInDays="1")
        assert client.describe_domain(name="d")["domainInfo"]["status"] == "REGISTERED"
    finally:
        endpoint.stop()
    assert any("is empty (0 bytes): starting a new database" in r.getMessage()
               for r in caplog.records)


def test_a_damaged_database_fails_an_embedded_start_with_an_error_line(tmp_path):
    database = tmp_path / "swf.sqlite3"
    database.write_bytes(b"SQLite format 3\x00" + os.urandom(4000))
    read_r, read_w = os.pipe()
    proc = subprocess.run(
        [sys.executable, "-m", "swfd.local", "--port", str(free_port()), "--database",
         str(database), "--ready-fd", str(read_w)],
        pass_fds=(read_w,), capture_output=True, timeout=30, check=False)
    os.close(read_w)
    line = os.read(read_r, 65536).decode()
    os.close(read_r)
    assert proc.returncode == 2
    assert line.startswith(f"error database {database}: ") and line.count("\n") == 1, line


# -- runtime errors ---------------------------------------------------------------------


def test_a_runtime_database_error_is_a_500_logged_once(tmp_path, caplog, monkeypatch):
    endpoint = LocalEndpoint(database=str(tmp_path / "swf.sqlite3"), poll_timeout=1.0).start()
    try:
        client = make_boto3_client(endpoint.url)
        domain = unique("d")
        client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")

        def malformed(*args, **kwargs):
            raise sqlite3.DatabaseError("database disk image is malformed")

        monkeypatch.setattr(endpoint.engine.store, "closed_summaries", malformed)
        caplog.set_level(logging.ERROR, logger="swfd.local")
        for _ in range(20):
            with pytest.raises(botocore.exceptions.ClientError) as caught:
                client.list_closed_workflow_executions(domain=domain,
                                                       startTimeFilter={"oldestDate": 0})
            assert caught.value.response["Error"]["Code"] == "InternalFailure"
            assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        lines = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(lines) == 1, [r.getMessage() for r in lines]
        message = lines[0].getMessage()
        assert "database error (database disk image is malformed) in ListClosed" in message
        monkeypatch.undo()
        # Everything else kept working, and the call works again once the database does.
        assert client.list_closed_workflow_executions(
            domain=domain, startTimeFilter={"oldestDate": 0})["executionInfos"] == []
    finally:
        endpoint.stop()


def test_a_failing_timer_backs_off_instead_of_looping(tmp_path, caplog, monkeypatch):
    engine = make_engine(str(tmp_path / "swf.sqlite3"))
    try:
        attempts: list[float] = []
        original = engine.fire

        def broken(kind, ex, ref):
            if kind == "execution":
                attempts.append(time.monotonic())
                raise sqlite3.DatabaseError("database disk image is malformed")
            return original(kind, ex, ref)

        monkeypatch.setattr(engine, "fire", broken)
        caplog.set_level(logging.ERROR, logger="swfd.local")
        start(engine, "timed", executionStartToCloseTimeout="1")
        wait_for(lambda: len(attempts) >= 3, timeout=15, message="three timer attempts")
        gaps = [b - a for a, b in zip(attempts, attempts[1:])]
        assert gaps[0] >= 0.9 and gaps[1] >= 1.9, gaps  # 1 s, then 2 s: never a loop
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        monkeypatch.undo()
        wait_for(lambda: not engine.open_runs, timeout=15, message="the timeout recorded")
    finally:
        engine.close()


# -- bulk work ------------------------------------------------------------------------


def test_retention_deletes_in_batches_and_truncates_the_wal(tmp_path):
    database = str(tmp_path / "swf.sqlite3")
    engine = Engine(database, poll_timeout=0.1)
    try:
        c = engine.call
        c("RegisterDomain", {"name": "r0", "workflowExecutionRetentionPeriodInDays": "0"})
        c("RegisterWorkflowType", {"domain": "r0", "name": "W", "version": "1",
                                   "defaultTaskList": {"name": "tl"},
                                   "defaultExecutionStartToCloseTimeout": "60",
                                   "defaultTaskStartToCloseTimeout": "10",
                                   "defaultChildPolicy": "TERMINATE"})
        engine.retention.stop()  # the test sweeps itself
        for i in range(1000):
            c("StartWorkflowExecution", {"domain": "r0", "workflowId": f"w{i}",
                                         "workflowType": {"name": "W", "version": "1"},
                                         "tagList": ["odd", f"t{i % 3}"] if i % 2 else []})
            c("TerminateWorkflowExecution", {"domain": "r0", "workflowId": f"w{i}"})
        assert engine.retention.sweep() == 1000
        assert engine.retention.last["batches"] >= 5  # 200 per batch at most
        assert os.path.getsize(database + "-wal") == 0
        for table in ("events", "executions"):
            assert engine.store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0
    finally:
        engine.close()


def test_a_long_history_is_deleted_across_batches(tmp_path):
    engine = make_engine(str(tmp_path / "swf.sqlite3"))
    try:
        engine.retention.stop()
        assert engine.store.purge_batch("d", time.time() + 1, 200, 5000) == (0, 0)
        run_id = start(engine)
        for i in range(30):
            engine.call("SignalWorkflowExecution", {"domain": "d", "workflowId": "w1",
                                                    "signalName": f"s{i}"})
        engine.call("TerminateWorkflowExecution", {"domain": "d", "workflowId": "w1"})
        with engine.lock:
            first = engine.store.purge_batch("d", time.time() + 1, 200, 10)
            second = engine.store.purge_batch("d", time.time() + 1, 200, 100)
            engine.store.commit()
        assert first == (0, 10)  # the newest 10 events, execution kept
        assert second[0] == 1  # the rest, then the execution
        assert engine.store.load_execution(run_id) is None
    finally:
        engine.close()


def test_closed_lists_come_from_summary_columns_and_counts_from_an_index(tmp_path):
    endpoint = LocalEndpoint(database=str(tmp_path / "swf.sqlite3"), poll_timeout=1.0).start()
    try:
        client = make_boto3_client(endpoint.url)
        domain = unique("d")
        client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
        register_workflow_type(client, domain, "W")
        for i in range(3):
            client.start_workflow_execution(domain=domain, workflowId=f"w{i}-\u00e9\"\\",
                                            workflowType={"name": "W", "version": "1.0"},
                                            tagList=["t", f"n{i} \u2713"] if i else [])
            if i == 2:
                client.request_cancel_workflow_execution(domain=domain,
                                                         workflowId=f"w{i}-\u00e9\"\\")
            client.terminate_workflow_execution(domain=domain, workflowId=f"w{i}-\u00e9\"\\")
        register_workflow_type(client, domain, "P", task_list="p")
        client.start_workflow_execution(domain=domain, workflowId="parent",
                                        workflowType={"name": "P", "version": "1.0"})
        task = poll_decision(client, domain, "p")
        respond(client, task, [decision("StartChildWorkflowExecution", workflowId="child",
                                        workflowType={"name": "W", "version": "1.0"})])
        client.terminate_workflow_execution(domain=domain, workflowId="parent")
        listed = client.list_closed_workflow_executions(
            domain=domain, startTimeFilter={"oldestDate": 0})["executionInfos"]
        assert len(listed) == 5
        for info in listed:  # the same WorkflowExecutionInfo describe builds from the state
            described = client.describe_workflow_execution(
                domain=domain, execution=info["execution"])["executionInfo"]
            assert info == described
        assert [i["execution"]["workflowId"] for i in listed if "parent" in i] == ["child"]
        assert [i["cancelRequested"] for i in listed[2:]] == [True, False, False]
        db = endpoint.engine.store.db
        for time_filter in ("startTimeFilter", "closeTimeFilter"):
            for extra, wanted in (({}, 5), ({"closeStatusFilter": {"status": "TERMINATED"}}, 5),
                                  ({"typeFilter": {"name": "W"}}, 4),
                                  ({"typeFilter": {"name": "P", "version": "1.0"}}, 1),
                                  ({"tagFilter": {"tag": "t"}}, 2),
                                  ({"tagFilter": {"tag": "n1 \u2713"}}, 1)):
                statements: list[str] = []
                db.set_trace_callback(statements.append)
                try:
                    counted = client.count_closed_workflow_executions(
                        domain=domain, **{time_filter: {"oldestDate": 0}}, **extra)["count"]
                finally:
                    db.set_trace_callback(None)
                assert counted == wanted, (time_filter, extra)
                sql = next(s for s in statements if "COUNT(*)" in s)
                plan = " ".join(str(row) for row in db.execute(f"EXPLAIN QUERY PLAN {sql}"))
                assert "COVERING INDEX" in plan, (time_filter, extra, plan)
    finally:
        endpoint.stop()


def test_a_schema_2_database_gets_its_summary_columns(tmp_path):
    database = str(tmp_path / "swf.sqlite3")
    engine = make_engine(database)
    start(engine, "parent")
    engine.call("RequestCancelWorkflowExecution", {"domain": "d", "workflowId": "parent"})
    engine.call("TerminateWorkflowExecution", {"domain": "d", "workflowId": "parent"})
    engine.close()
    conn = sqlite3.connect(database)  # as schema 2 had it
    conn.executescript("DROP INDEX executions_closed_by_start; DROP INDEX executions_closed_by_close;"
                       "ALTER TABLE executions DROP COLUMN parent_wid;"
                       "ALTER TABLE executions DROP COLUMN parent_rid;"
                       "ALTER TABLE executions DROP COLUMN cancel_requested;"
                       "PRAGMA user_version=2;")
    conn.close()
    engine = Engine(database, poll_timeout=0.1)
    try:
        infos = engine.call("ListClosedWorkflowExecutions", {
            "domain": "d", "startTimeFilter": {"oldestDate": 0}})["executionInfos"]
        assert infos[0]["cancelRequested"] is True
        assert engine.store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        engine.close()


def test_closed_counts_by_tag_agree_with_the_lists(tmp_path):
    """CountClosed and ListClosed with the same tagFilter agree, for start and close time
    windows; open executions and tags that are only part of another do not count."""
    now = [1_000_000.0]
    engine = Engine(str(tmp_path / "swf.sqlite3"), poll_timeout=0.1, clock=lambda: now[0])
    try:
        engine.retention.stop()
        setup(engine)
        c = engine.call
        tags = ["a", "ab", 'a"b', "\u00e9", "a"]
        for i in range(40):
            now[0] += 10
            start(engine, f"w{i}", tagList=tags[i % 5:i % 5 + 1 + i % 3])
            if i % 7 != 3:  # a few stay open
                now[0] += 5 * (i % 4)
                c("TerminateWorkflowExecution", {"domain": "d", "workflowId": f"w{i}"})
        windows = [{"oldestDate": 0}, {"oldestDate": 1_000_100, "latestDate": 1_000_300},
                   {"oldestDate": 1_000_250}]
        for tag in ("a", "ab", 'a"b', "\u00e9", "b", "zz"):
            for column in ("startTimeFilter", "closeTimeFilter"):
                for window in windows:
                    query = {"domain": "d", column: window, "tagFilter": {"tag": tag}}
                    counted = c("CountClosedWorkflowExecutions", query)["count"]
                    listed = c("ListClosedWorkflowExecutions",
                               {**query, "maximumPageSize": 1000})["executionInfos"]
                    assert counted == len(listed), (tag, column, window)
                    assert all(tag in info["tagList"] for info in listed)
        assert c("CountClosedWorkflowExecutions", {"domain": "d", "startTimeFilter": {
            "oldestDate": 0}, "tagFilter": {"tag": "a"}})["count"] > 0
    finally:
        engine.close()


def test_a_schema_3_database_opens_with_its_closed_indexes_rebuilt(tmp_path):
    """A file written by schema 3 (closed-time indexes without type and tags) opens, keeps
    every execution, and counts by type and tag from the rebuilt indexes."""
    database = str(tmp_path / "swf.sqlite3")
    engine = make_engine(database)
    for i in range(4):
        start(engine, f"w{i}", tagList=["odd"] if i % 2 else [])
        engine.call("TerminateWorkflowExecution", {"domain": "d", "workflowId": f"w{i}"})
    start(engine, "open")
    engine.close()
    conn = sqlite3.connect(database)  # as schema 3 had it
    conn.executescript(
        "DROP INDEX executions_closed_by_start; DROP INDEX executions_closed_by_close;"
        "CREATE INDEX executions_closed_by_start ON executions"
        " (domain, start_ts, seq, close_ts, close_status, is_open) WHERE is_open = 0;"
        "CREATE INDEX executions_closed_by_close ON executions"
        " (domain, close_ts, seq, close_status, is_open) WHERE is_open = 0;"
        "PRAGMA user_version=3;")
    conn.close()
    engine = Engine(database, poll_timeout=0.1)
    try:
        db = engine.store.db
        assert db.execute("PRAGMA user_version").fetchone()[0] == 4
        columns = {row[2] for row in db.execute("PRAGMA index_info(executions_closed_by_close)")}
        assert {"type_name", "type_version", "tags"} <= columns
        since = {"domain": "d", "startTimeFilter": {"oldestDate": 0}}
        assert engine.call("CountClosedWorkflowExecutions", since)["count"] == 4
        assert engine.call("CountClosedWorkflowExecutions",
                           {**since, "tagFilter": {"tag": "odd"}})["count"] == 2
        assert engine.call("CountClosedWorkflowExecutions", {
            "domain": "d", "closeTimeFilter": {"oldestDate": 0},
            "tagFilter": {"tag": "odd"}})["count"] == 2
        listed = engine.call("ListClosedWorkflowExecutions",
                             {**since, "typeFilter": {"name": "W"}})["executionInfos"]
        assert sorted(i["execution"]["workflowId"] for i in listed) == ["w0", "w1", "w2", "w3"]
        assert engine.call("CountOpenWorkflowExecutions", since)["count"] == 1
    finally:
        engine.close()


def test_engine_refuses_a_foreign_file_with_database_file_error(tmp_path):
    database = tmp_path / "x.sqlite3"
    database.write_bytes(json.dumps({"not": "sqlite"}).encode() * 10)
    with pytest.raises(DatabaseFileError, match="not an SQLite database"):
        Engine(str(database))


def test_a_large_database_skips_quick_check_but_not_the_header_check(tmp_path, monkeypatch,
                                                                      caplog):
    from swfd.local import integrity

    database = _populated(tmp_path / "swf.sqlite3", executions=20)
    monkeypatch.setattr(integrity, "QUICK_CHECK_MAX_BYTES", 1024)
    caplog.set_level(logging.INFO, logger="swfd.local")
    Engine(database).close()
    assert any("quick_check skipped" in r.getMessage() and "--check" in r.getMessage()
               for r in caplog.records)
    with open(database, "r+b") as handle:
        handle.truncate(os.path.getsize(database) - 4096)
    with pytest.raises(DatabaseFileError, match="truncated"):
        Engine(database)
