"""The web console over HTTP, against a real local endpoint served from this process:
listings (open, closed, filters SWF applies and filters the console applies, pages),
an execution's page, errors as pages, and the safety rules (Host check, security
headers, read-only by default; with --allow-actions: POST only, CSRF token, Origin,
a confirmation step)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from html import unescape
from urllib.parse import urlencode

import pytest
from test_console_support import InProcessConsole, request
from test_daemon_support import boto3_client

from swfd.local.server import LocalEndpoint
from swfd.testing import free_port, wait_for


@pytest.fixture
def types(swf_client, domain):
    for name in ("Pipeline", "Other"):
        swf_client.register_workflow_type(
            domain=domain, name=name, version="1", defaultTaskList={"name": "nobody"},
            defaultTaskStartToCloseTimeout="30", defaultExecutionStartToCloseTimeout="600",
            defaultChildPolicy="TERMINATE")
    return domain


def start(client, domain, workflow_id, name="Pipeline", tags=(), input=None):
    run = client.start_workflow_execution(
        domain=domain, workflowId=workflow_id, workflowType={"name": name, "version": "1"},
        tagList=list(tags), **({"input": input} if input is not None else {}))
    return {"workflowId": workflow_id, "runId": run["runId"]}


@pytest.fixture
def console(swf_client, types):
    running = InProcessConsole(swf_client, types)
    yield running
    running.close()


@pytest.fixture
def acting(swf_client, types):
    running = InProcessConsole(swf_client, types, allow_actions=True)
    yield running
    running.close()


def all_pages(console, query: str, limit: int = 10) -> tuple[list[str], int]:
    """Every row of a listing, following Next links; and how many pages that took."""
    rows, path = [], "/?" + query
    for pages in range(1, limit + 1):
        page = request(console.url, path)
        assert page.status == 200, page.text
        rows += page.rows()
        nexts = page.links("next")
        if not nexts:
            return rows, pages
        path = nexts[0]
    raise AssertionError(f"more than {limit} pages")


def test_open_and_closed_listings_filters_and_pages(console, swf_client, types):
    for i in range(5):
        start(swf_client, types, f"p{i}", tags=["blue"] if i < 3 else ["red"])
    start(swf_client, types, "o0", name="Other", tags=["blue"])
    for workflow_id in ("p0", "p3"):
        swf_client.terminate_workflow_execution(domain=types, workflowId=workflow_id)

    opened = request(console.url, "/")
    assert opened.status == 200
    assert opened.rows() == ["o0", "p4", "p2", "p1"]  # newest first
    closed = request(console.url, "/?state=closed")
    assert closed.rows() == ["p3", "p0"]
    assert closed.text.count('data-status="TERMINATED"') == 2

    one = request(console.url, "/?state=open&workflowId=p2")
    assert one.rows() == ["p2"] and "Filtered by SWF: workflow id" in one.text
    assert "client-side" not in one.text

    # Two filters: SWF takes the type, the console applies the tag, and says so.
    both = request(console.url, "/?state=open&type=Pipeline&tag=blue")
    assert both.rows() == ["p2", "p1"]
    notice = unescape(re.search(r'class="filter-notice client-side">([^<]*)', both.text)[1])
    assert "it applied type" in notice and "this console applied tag" in notice
    closed_terminated = request(console.url, "/?state=closed&tag=red&closeStatus=terminated")
    assert closed_terminated.rows() == ["p3"]

    # Pages: SWF's tokens in the URL, newest first throughout.
    rows, pages = all_pages(console, "state=open&size=2")
    assert rows == ["o0", "p4", "p2", "p1"] and pages >= 2
    first = request(console.url, "/?state=open&size=2")
    assert first.rows() == ["o0", "p4"] and first.links("next")
    second = request(console.url, first.links("next")[0])
    assert second.rows() == ["p2", "p1"] and second.links("first")
    # ... and a client-side filter over pages of one: short pages, nothing lost.
    rows, pages = all_pages(console, "state=open&tag=blue&type=Pipeline&size=1")
    assert rows == ["p2", "p1"] and pages >= 2

    later = datetime.now(timezone.utc) + timedelta(hours=1)
    none = request(console.url, f"/?state=open&startedAfter={later:%Y-%m-%dT%H:%M:%S}")
    assert none.rows() == [] and "No executions match" in none.text


def test_an_execution_page_shows_input_result_events_and_timeline(console, swf_client, types):
    run = start(swf_client, types, "shown", input=json.dumps({"size": [800, 600], "x": "<b>"}))
    task = swf_client.poll_for_decision_task(domain=types, taskList={"name": "nobody"})
    swf_client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[{
        "decisionType": "CompleteWorkflowExecution",
        "completeWorkflowExecutionDecisionAttributes": {"result": "plain text result"}}])

    page = request(console.url, f"/execution?workflowId=shown&runId={run['runId']}")
    assert page.status == 200, page.text
    assert '"size": [\n    800,\n    600\n  ]' in unescape(page.text)  # JSON pretty-printed
    assert "&lt;b&gt;" in page.text and "<b>\"" not in page.text       # and escaped
    assert "plain text result" in page.text
    assert re.findall(r'data-event-type="(\w+)"', page.text) == [
        "WorkflowExecutionStarted", "DecisionTaskScheduled", "DecisionTaskStarted",
        "DecisionTaskCompleted", "WorkflowExecutionCompleted"]
    assert "<details>" in page.text and '<svg xmlns="http://www.w3.org/2000/svg"' in page.text
    assert 'data-status="COMPLETED"' in page.text
    # Without a run id: the latest run of the workflow id.
    latest = request(console.url, "/execution?workflowId=shown")
    assert latest.status == 200 and run["runId"] in latest.text
    # Zoom without JavaScript: the window in the query becomes the plot's viewBox.
    zoomed = request(console.url, f"/execution?workflowId=shown&runId={run['runId']}"
                                  "&from=0&to=0.001")
    assert re.search(r'class="plot"[^>]*viewBox="0.000 0 1.000 ', zoomed.text)


def test_every_response_is_guarded_and_hosts_are_checked(console):
    for path in ("/", "/static/console.css", "/nowhere"):
        answer = request(console.url, path)
        csp = answer.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert request(console.url, "/nowhere").status == 404
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host.
    for host in (f"evil.example:{console.port}", "127.0.0.1:1", "", "localhost"):
        refused = request(console.url, "/", host=host)
        assert refused.status == 421 and "not this console" in refused.text, host
    assert request(console.url, "/", host=f"localhost:{console.port}").status == 200
    assert request(console.url, "/", host=f"127.0.0.1:{console.port}").status == 200


def test_assets_ship_in_the_package(console):
    script = request(console.url, "/static/console.js")
    assert script.status == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "viewBox" in script.text
    style = request(console.url, "/static/console.css")
    assert style.status == 200 and style.headers["content-type"].startswith("text/css")
    for path in ("/static/../server.py", "/static/nope.js", "/static/.hidden.css"):
        assert request(console.url, path).status == 404, path
    page = request(console.url, "/")
    # Only our own assets: no CDN, no inline script or style.
    assert re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text) == [
        "/static/console.css", "/static/console.js"]
    assert "<script>" not in page.text and "style=" not in page.text and "//" not in re.sub(
        r"https?://127\.0\.0\.1|http://www\.w3\.org", "", page.text.split("<main>")[0])


def test_read_only_console_has_no_buttons_and_refuses_posts(console, swf_client, types):
    run = start(swf_client, types, "calm")
    page = request(console.url, f"/execution?workflowId=calm&runId={run['runId']}")
    assert page.status == 200 and "<form method=\"post\"" not in page.text
    assert "read-only" in page.text
    refused = request(console.url, "/action/terminate", method="POST",
                      form={"workflowId": "calm", "runId": run["runId"], "confirmed": "yes"})
    assert refused.status == 403 and "--allow-actions" in refused.text
    assert request(console.url, "/", method="DELETE").status == 405
    info = swf_client.describe_workflow_execution(domain=types, execution=run)["executionInfo"]
    assert info["executionStatus"] == "OPEN"


def test_actions_need_the_token_the_origin_and_a_confirmation(acting, swf_client, types):
    run = start(swf_client, types, "target")
    path = f"/execution?workflowId=target&runId={run['runId']}"
    page = request(acting.url, path)
    cookie = f"swfd_console={page.cookies['swfd_console']}"
    token = page.csrf()
    assert 'action="/action/signal"' in page.text and 'action="/action/terminate"' in page.text
    form = {"workflowId": "target", "runId": run["runId"], "reason": "enough", "confirmed": "yes"}

    def post(action, fields, headers=None):
        return request(acting.url, f"/action/{action}", method="POST", form=fields,
                       headers={"Cookie": cookie, **(headers or {})})

    def status():
        return swf_client.describe_workflow_execution(domain=types,
                                                      execution=run)["executionInfo"]

    assert post("terminate", form).status == 403                             # no token
    assert post("terminate", {**form, "csrf": "0" * 64}).status == 403        # a wrong one
    other = request(acting.url, "/").cookies["swfd_console"]                  # another browser's
    assert post("terminate", {**form, "csrf": token},
                {"Cookie": f"swfd_console={other}"}).status == 403
    assert post("terminate", {**form, "csrf": token},
                {"Origin": "http://evil.example"}).status == 403
    assert request(acting.url, "/action/terminate", method="POST", form={**form, "csrf": token},
                   headers={"Cookie": cookie}, host="evil.example").status == 421
    assert request(acting.url, "/action/terminate").status == 404             # POST only
    assert status()["executionStatus"] == "OPEN"

    # The right token asks first: nothing happens until confirmed.
    asked = post("signal", {"workflowId": "target", "runId": run["runId"], "csrf": token,
                            "signalName": "poke", "input": '{"n": 1}'})
    assert asked.status == 200 and "Confirm: signal" in asked.text
    assert 'name="confirmed" value="yes"' in asked.text
    assert "WorkflowExecutionSignaled" not in [e["eventType"] for e in swf_client.
        get_workflow_execution_history(domain=types, execution=run)["events"]]
    done = post("signal", {"workflowId": "target", "runId": run["runId"], "csrf": token,
                           "signalName": "poke", "input": '{"n": 1}', "confirmed": "yes"})
    assert done.status == 303 and "done=signal" in done.headers["location"]
    events = swf_client.get_workflow_execution_history(domain=types, execution=run)["events"]
    signaled = [e for e in events if e["eventType"] == "WorkflowExecutionSignaled"]
    assert signaled[0]["workflowExecutionSignaledEventAttributes"]["input"] == '{"n": 1}'

    assert post("cancel", {**form, "csrf": token}).status == 303
    assert status()["cancelRequested"] is True
    assert post("terminate", {**form, "csrf": token, "confirmed": ""}).status == 200
    assert status()["executionStatus"] == "OPEN"
    assert post("terminate", {**form, "csrf": token}).status == 303
    assert status()["closeStatus"] == "TERMINATED"
    closed = request(acting.url, path, headers={"Cookie": cookie})
    assert 'action="/action/' not in closed.text  # no buttons on a closed run


def test_errors_are_pages_naming_what_failed(console, swf_client, types):
    missing = request(console.url, "/execution?workflowId=ghost&runId=00000000")
    assert missing.status == 404 and "UnknownResourceFault" in missing.text
    assert "Traceback" not in missing.text
    no_run = request(console.url, "/execution?workflowId=ghost")
    assert no_run.status == 404 and "ghost" in no_run.text
    for query in ("size=abc", "size=nan", "size=0", "size=1001"):
        assert request(console.url, f"/?{query}").status == 400, query
    assert request(console.url, "/execution?workflowId=ghost&from=inf").status == 400
    assert request(console.url, "/?state=sideways").status == 400
    bad_time = request(console.url, "/?startedAfter=yesterday")
    assert bad_time.status == 400 and "startedAfter" in unescape(bad_time.text)

    dead_url = f"http://127.0.0.1:{free_port()}"
    down = InProcessConsole(boto3_client(dead_url), types, label=dead_url)
    try:
        answer = request(down.url, "/")
        assert answer.status == 502 and "cannot reach SWF" in answer.text
        assert dead_url in answer.text and "Traceback" not in answer.text
    finally:
        down.close()


def test_the_command_binds_loopback_unless_told(tmp_path):
    from swfd.config import ConfigError, load

    config = tmp_path / "swfd.ini"
    config.write_text("[swfd]\ndomain = d\nendpoint_url = http://127.0.0.1:9\n"
                      "[worker:w]\ntask_list = w\n")
    refused = subprocess.run([sys.executable, "-m", "swfd.cli", "--config", str(config),
                              "console", "--host", "0.0.0.0", "--port", "0"],
                             check=False, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "not a loopback address" in refused.stderr
    config.write_text("[swfd]\ndomain = d\nendpoint_url = embedded\n"
                      "[embedded]\nconsole = yes\nconsole_host = 10.1.2.3\n"
                      "[worker:w]\ntask_list = w\n")
    with pytest.raises(ConfigError, match=r"console_host.*loopback"):
        load(str(config))


def test_throttling_shows_as_a_page(tmp_path):
    """An endpoint over its connection cap answers ThrottlingException, as SWF does."""
    endpoint = LocalEndpoint(port=0, database=str(tmp_path / "swf.sqlite3"), poll_timeout=1.0,
                             max_connections=1).start()
    held = socket.create_connection(("127.0.0.1", int(endpoint.url.rsplit(":", 1)[1])))
    console = InProcessConsole(boto3_client(endpoint.url), "d", label=endpoint.url)
    try:
        answer = request(console.url, "/")
        assert answer.status == 503 and "ThrottlingException" in answer.text
        assert "Traceback" not in answer.text
    finally:
        console.close()
        held.close()
        endpoint.stop()


def test_a_reply_without_swfs_fields_shows_as_a_page(tmp_path):
    """A server that answers HTTP 200 with ``{}`` (not SWF): the execution's page says the
    history reply had no events, rather than drawing an empty run."""
    import http.server
    import threading

    class NotSWF(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotSWF)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    console = InProcessConsole(boto3_client(url), "d", label=url)
    try:
        page = request(console.url, "/execution?" + urlencode({"workflowId": "w",
                                                               "runId": "r"}))
        assert page.status == 502, page.text
        assert "GetWorkflowExecutionHistory: the reply has no &#x27;events&#x27; list" in (
            page.text), page.text
        assert url in page.text and "Traceback" not in page.text
    finally:
        console.close()
        server.shutdown()
        server.server_close()


def test_ids_users_wrote_are_escaped_everywhere(console, swf_client, types, caplog):
    nasty = '<img src=x onerror=alert(1)>"\'&'
    run = start(swf_client, types, nasty, tags=[nasty], input=nasty)
    listing = request(console.url, "/")
    assert nasty not in listing.text and listing.rows() == [nasty]
    page = request(console.url, "/execution?" + urlencode({"workflowId": nasty,
                                                           "runId": run["runId"]}))
    assert page.status == 200 and nasty not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;&quot;&#x27;&amp;" in page.text
    # An error about it: a page, and a log line naming the execution.
    missing = request(console.url, "/execution?" + urlencode({"workflowId": nasty,
                                                              "runId": "nope"}))
    assert missing.status == 404 and nasty not in missing.text
    logged = [r for r in caplog.records if r.levelname == "ERROR"]
    assert logged and getattr(logged[-1], "workflowId", None) == nasty
    assert getattr(logged[-1], "runId", None) == "nope"


def test_timer_and_child_workflow_lanes_from_a_real_history(console, swf_client, types):
    """Decided by hand through the endpoint: a timer that fires and a child that completes."""
    for name, task_list in (("Parent", "parent"), ("Child", "child")):
        swf_client.register_workflow_type(
            domain=types, name=name, version="1", defaultTaskList={"name": task_list},
            defaultTaskStartToCloseTimeout="30", defaultExecutionStartToCloseTimeout="600",
            defaultChildPolicy="TERMINATE")
    run = start(swf_client, types, "parent-run", name="Parent")
    task = swf_client.poll_for_decision_task(domain=types, taskList={"name": "parent"})
    swf_client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[
        {"decisionType": "StartTimer", "startTimerDecisionAttributes": {
            "timerId": "pause", "startToFireTimeout": "1"}},
        {"decisionType": "StartChildWorkflowExecution",
         "startChildWorkflowExecutionDecisionAttributes": {
             "workflowId": "kid", "workflowType": {"name": "Child", "version": "1"}}}])
    child = swf_client.poll_for_decision_task(domain=types, taskList={"name": "child"})
    swf_client.respond_decision_task_completed(taskToken=child["taskToken"], decisions=[{
        "decisionType": "CompleteWorkflowExecution",
        "completeWorkflowExecutionDecisionAttributes": {"result": "grown"}}])

    def history_types():
        return {e["eventType"] for e in swf_client.get_workflow_execution_history(
            domain=types, execution=run)["events"]}

    wait_for(lambda: {"TimerFired", "ChildWorkflowExecutionCompleted"} <= history_types(), 20,
             message="the timer fired and the child completed")
    page = request(console.url, f"/execution?workflowId=parent-run&runId={run['runId']}")
    drawn = ET.fromstring(re.search(r"<svg xmlns=.*?</svg></svg>", page.text, re.DOTALL)[0])
    ns = "{http://www.w3.org/2000/svg}"
    lanes = {g.get("data-id"): g for g in drawn.iter(f"{ns}g")
             if "lane" in (g.get("class") or "").split()}
    timer, kid = lanes["pause"], lanes["kid"]
    assert (timer.get("data-kind"), timer.get("data-outcome")) == ("timer", "fired")
    fired = timer.find(f"{ns}g")
    assert 0.9 <= float(fired.get("data-closed")) - float(fired.get("data-started")) < 10
    assert (kid.get("data-kind"), kid.get("data-name"), kid.get("data-outcome")) == (
        "child", "Child/1", "completed")
    child_run = child["workflowExecution"]["runId"]
    assert f"/execution?workflowId=kid&amp;runId={child_run}" in page.text
    assert request(console.url, f"/execution?workflowId=kid&runId={child_run}").status == 200
