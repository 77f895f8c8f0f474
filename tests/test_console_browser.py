"""The web console in headless Chromium, on boto's tutorial run by a real daemon.

A daemon running the tutorial plugin (ActivityA slowed to 0.5 s by
test_daemon_tutorial's hook, so the Parallel workflow's activities overlap on
the two workers) with ``[embedded] console = yes``: its console is the one the
daemon serves, read-only. The actions run on a console with ``--allow-actions``
served from this process, on a local endpoint. Assertions read the SVG's
data attributes, never pixels; every page is also saved as a screenshot under
the test's tmp_path.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_console_support import InProcessConsole, browser, chromium_or_skip  # noqa: F401
from test_daemon_support import boto3_client
from test_daemon_tutorial import tutorial_daemon

from swfd.testing import wait_for

pytestmark = pytest.mark.slow

LANES_JS = """svg => Array.from(svg.querySelectorAll('g.lane')).map(lane => ({
    kind: lane.dataset.kind, id: lane.dataset.id, name: lane.dataset.name,
    outcome: lane.dataset.outcome,
    attempts: Array.from(lane.querySelectorAll('g.attempt')).map(a => ({
        number: +a.dataset.attempt, outcome: a.dataset.outcome,
        scheduled: +a.dataset.scheduled, started: +a.dataset.started,
        closed: +a.dataset.closed}))}))"""


@pytest.fixture
def tutorial(tmp_path):
    chromium_or_skip()
    pytest.importorskip("swfd_tutorial", reason="pip install -e plugins/tutorial")
    home = tmp_path / "daemon"
    home.mkdir()
    d = tutorial_daemon(home, "console = yes\nconsole_port = 0")
    try:
        d.start().wait_ready()
        url = wait_for(lambda: re.findall(r"web console at (http://\S+)/ ", d.text()), 60,
                       message="the web console's address in the daemon's log")[-1]
        runs = SimpleNamespace(
            hello=d.start_workflow("HelloWorkflow", "1.0", task_list="default"),
            serial=d.start_workflow("SerialWorkflow", "1.0", task_list="default_tasks"),
            parallel=d.start_workflow("ParallelWorkflow", "1.0", task_list="default"),
        )
        for run in vars(runs).values():
            assert d.wait_closed(run, 60)["closeStatus"] == "COMPLETED"
        # Decided by nobody: stays open, for the open list and the actions.
        runs.stuck = d.start_workflow("HelloWorkflow", "1.0", task_list="nobody",
                                      workflow_id="stuck-run")
        yield SimpleNamespace(daemon=d, url=url, runs=runs)
    finally:
        d.close()


@pytest.fixture
def page(browser):  # noqa: F811 - the module fixture imported above
    page = browser.new_page()
    yield page
    page.close()


def execution_url(base: str, run: dict) -> str:
    return f"{base}/execution?workflowId={run['workflowId']}&runId={run['runId']}"


def shoot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000


def test_the_tutorials_runs_in_the_browser(tutorial, page, tmp_path):
    """One daemon, every read-only page (pytest-xdist may not keep a module's tests on
    one worker, so this is one test rather than one daemon per worker)."""
    check_executions_page(tutorial, page, tmp_path)
    check_parallel_timeline(tutorial, page, tmp_path)
    check_serial_timeline(tutorial, page, tmp_path)
    check_event_pages(tutorial, page, tmp_path)
    check_read_only(tutorial, page, tmp_path)
    check_lanes_past_a_drawing(tutorial, page, tmp_path)


def navigate(page, action):
    """Do ``action`` (a click that loads another page) and wait until that page has
    loaded: a click returns once the navigation starts, and reading the page before it
    has loaded reads the old one, or nothing."""
    with page.expect_navigation():
        action()


def check_executions_page(tutorial, page, tmp_path):
    page.goto(f"{tutorial.url}/?state=closed")
    rows = page.locator("tr.execution")
    closed_ids = rows.evaluate_all("rows => rows.map(r => r.dataset.workflowId)")
    assert set(closed_ids) == {r["workflowId"] for r in (
        tutorial.runs.hello, tutorial.runs.serial, tutorial.runs.parallel)}
    assert page.locator("tr.execution .status.completed").count() == 3
    shoot(page, tmp_path, "executions-closed")

    navigate(page, lambda: page.click("nav.tabs a:text('Open')"))
    assert page.locator("tr.execution").evaluate_all(
        "rows => rows.map(r => r.dataset.workflowId)") == ["stuck-run"]
    shoot(page, tmp_path, "executions-open")

    # The filter form, as a user fills it: type and tag (the tag is applied client-side).
    page.goto(f"{tutorial.url}/?state=closed")
    page.fill("input[name=type]", "SerialWorkflow")
    navigate(page, lambda: page.click("form.filters button[type=submit]"))
    assert page.locator("tr.execution").evaluate_all(
        "rows => rows.map(r => r.dataset.workflowId)") == [tutorial.runs.serial["workflowId"]]
    page.fill("input[name=tag]", "no-such-tag")
    navigate(page, lambda: page.click("form.filters button[type=submit]"))
    assert page.locator("tr.execution").count() == 0
    assert "this console applied tag" in page.locator(".filter-notice").inner_text()
    shoot(page, tmp_path, "executions-filtered")


def check_parallel_timeline(tutorial, page, tmp_path):
    """The Parallel workflow's five activities overlap."""
    page.goto(execution_url(tutorial.url, tutorial.runs.parallel))
    lanes = page.locator("svg.timeline").evaluate(LANES_JS)
    assert [lane["kind"] for lane in lanes] == ["activity"] * 5
    assert {lane["name"] for lane in lanes} == {"ActivityA/1.0"}
    bars = [lane["attempts"][0] for lane in lanes]
    assert all(bar["outcome"] == "completed" and bar["started"] > 0 for bar in bars)
    # All five scheduled before any closed: one instant when all five were in flight ...
    assert max(bar["scheduled"] for bar in bars) < min(bar["closed"] for bar in bars)
    # ... and with two workers, running side by side (each run takes 0.5 s).
    overlapping = [(a, b) for i, a in enumerate(bars) for b in bars[i + 1:]
                   if a["started"] < b["closed"] and b["started"] < a["closed"]]
    assert len(overlapping) >= 1
    assert page.locator("svg.plot line.tick").count() >= 2  # decision tasks as ticks
    events = len(tutorial.daemon.history(tutorial.runs.parallel))
    assert page.locator("tr.event").count() == events
    shoot(page, tmp_path, "parallel")

    # A bar leads to its event's row.
    bar = page.locator("svg.plot g.attempt a").first
    href = bar.get_attribute("href")
    bar.click()
    assert href.startswith("#event-") and page.url.endswith(href)

    # Zoom in place (console.js): the plot's viewBox narrows, the page stays.
    before = page.get_attribute("svg.plot", "viewBox").split()
    url = page.url
    page.click("a.zoom.in")
    after = page.get_attribute("svg.plot", "viewBox").split()
    assert page.url == url
    assert float(after[2]) == pytest.approx(float(before[2]) / 2, rel=1e-3)
    page.click("a.zoom.reset")
    assert page.get_attribute("svg.plot", "viewBox").split()[2] == before[2]


def check_serial_timeline(tutorial, page, tmp_path):
    """The Serial workflow's three activities run one after the other."""
    page.goto(execution_url(tutorial.url, tutorial.runs.serial))
    lanes = page.locator("svg.timeline").evaluate(LANES_JS)
    assert [lane["name"] for lane in lanes] == ["ActivityA/1.0", "ActivityB/1.0",
                                                "ActivityC/1.0"]
    bars = [lane["attempts"][0] for lane in lanes]
    for earlier, later in zip(bars, bars[1:]):
        assert earlier["closed"] <= later["scheduled"]
    assert all(bar["outcome"] == "completed" for bar in bars)
    # The event table: collapsible attributes, the payloads shown.
    first = page.locator("tr.event details").first
    assert not first.evaluate("d => d.open")
    first.locator("summary").click()
    assert first.evaluate("d => d.open")
    assert page.locator("section.payloads").inner_text().count("Result") == 1
    shoot(page, tmp_path, "serial")


def check_event_pages(tutorial, page, tmp_path):
    """The Parallel run's events five at a time: the pager, the jump form, the family
    filter, and a bar whose event is on another page."""
    events = len(tutorial.daemon.history(tutorial.runs.parallel))
    page.goto(execution_url(tutorial.url, tutorial.runs.parallel) + "&events=5")

    def shown():
        return page.locator("tr.event").evaluate_all("rows => rows.map(r => +r.id.slice(6))")

    assert shown() == [1, 2, 3, 4, 5]
    assert page.locator(".event-range").first.inner_text() == f"events 1–5 of {events}"
    navigate(page, lambda: page.locator("a.events-next").first.click())
    assert shown() == [6, 7, 8, 9, 10] and "event=6" in page.url
    navigate(page, lambda: page.locator("a.events-last").first.click())
    last = shown()
    assert last[-1] == events and len(last) == (events - 1) % 5 + 1
    assert page.locator("a.events-next").count() == 0  # greyed on the last page
    navigate(page, lambda: page.locator("a.events-first").first.click())
    assert shown() == [1, 2, 3, 4, 5]

    page.fill("form.jump input[name=jump]", "12")
    navigate(page, lambda: page.click("form.jump button[type=submit]"))
    assert shown() == [11, 12, 13, 14, 15] and page.url.endswith("#event-12")
    assert page.locator("tr.event.landed").get_attribute("id") == "event-12"
    shoot(page, tmp_path, "events-paged")

    # The last lane's bar: its event is past the first page, so the bar's link goes to
    # the page that holds it, at its row.
    page.goto(execution_url(tutorial.url, tutorial.runs.parallel) + "&events=5")
    bar = page.locator("svg.plot g.lane").last.locator("g.attempt a").first
    href = bar.get_attribute("href")
    target = int(href.rsplit("#event-", 1)[1])
    assert target > 5 and f"event={target}" in href
    bar.click()
    page.wait_for_url(f"**#event-{target}")
    assert target in shown() and page.locator(f"#event-{target}").is_visible()

    page.check("form.event-filter input[value=activity]")
    navigate(page, lambda: page.click("form.event-filter button[type=submit]"))
    kinds = page.locator("tr.event").evaluate_all("rows => rows.map(r => r.dataset.eventType)")
    assert len(kinds) == 5 and all(kind.startswith("ActivityTask") for kind in kinds)
    assert "activity events 1–5 of 15" in page.locator(".event-range").first.inner_text()


def check_read_only(tutorial, page, tmp_path):
    """The daemon's console was started without console_allow_actions."""
    page.goto(execution_url(tutorial.url, tutorial.runs.stuck))
    assert page.locator("dl.summary").get_attribute("data-status") == "OPEN"
    assert page.locator("form[method=post]").count() == 0
    assert "read-only" in page.locator("header .mode").inner_text()
    refused = page.request.post(f"{tutorial.url}/action/terminate", form={
        "workflowId": "stuck-run", "runId": tutorial.runs.stuck["runId"], "confirmed": "yes"})
    assert refused.status == 403
    shoot(page, tmp_path, "open-read-only")


def test_actions_ask_for_confirmation(swf_client, domain, browser, tmp_path):  # noqa: F811
    swf_client.register_workflow_type(
        domain=domain, name="Waits", version="1", defaultTaskList={"name": "nobody"},
        defaultTaskStartToCloseTimeout="30", defaultExecutionStartToCloseTimeout="600",
        defaultChildPolicy="TERMINATE")
    started = swf_client.start_workflow_execution(
        domain=domain, workflowId="stuck-run", workflowType={"name": "Waits", "version": "1"})
    run = {"workflowId": "stuck-run", "runId": started["runId"]}
    acting = InProcessConsole(swf_client, domain, allow_actions=True)
    page = browser.new_page()
    try:
        page.goto(execution_url(acting.url, run))
        # Following an open run: the page reloads by itself and shows what happened since.
        page.check("#follow")
        swf_client.signal_workflow_execution(domain=domain, workflowId="stuck-run",
                                             signalName="from-elsewhere")
        page.locator("tr.event[data-event-type=WorkflowExecutionSignaled]").wait_for(
            timeout=15_000)
        assert page.is_checked("#follow")  # still following after the reload
        page.uncheck("#follow")
        page.fill("form.signal input[name=signalName]", "go")
        page.fill("form.signal textarea[name=input]", '{"speed": 3}')
        navigate(page, lambda: page.click("form.signal button[type=submit]"))
        assert page.locator("h1").inner_text() == "Confirm: signal"
        shoot(page, tmp_path, "confirm-signal")
        navigate(page, lambda: page.click("#confirm"))
        assert page.locator(".notice").inner_text() == "Signal sent."
        assert page.locator("tr.event[data-event-type=WorkflowExecutionSignaled]").count() == 2

        navigate(page, lambda: page.click("form.cancel button[type=submit]"))
        assert page.locator("h1").inner_text() == "Confirm: cancel"
        navigate(page, lambda: page.click("#back"))  # changed our mind: nothing happened
        info = swf_client.describe_workflow_execution(domain=domain,
                                                      execution=run)["executionInfo"]
        assert not info.get("cancelRequested")
        navigate(page, lambda: page.click("form.cancel button[type=submit]"))
        navigate(page, lambda: page.click("#confirm"))
        assert page.locator(".notice").inner_text() == "Cancellation requested."

        page.fill("form.terminate input[name=reason]", "done looking")
        navigate(page, lambda: page.click("form.terminate button[type=submit]"))
        assert "done looking" in page.locator("main").inner_text()
        navigate(page, lambda: page.click("#confirm"))
        assert page.locator("dl.summary").get_attribute("data-status") == "TERMINATED"
        assert page.locator("form[method=post]").count() == 0  # closed: nothing to act on
        shoot(page, tmp_path, "terminated")
    finally:
        page.close()
        acting.close()


def check_lanes_past_a_drawing(tutorial, page, tmp_path):
    """A run with more lanes than one drawing holds (decided by hand: 101 activities on a
    task list nobody polls): a summary row, the lanes a hundred at a time, and zoom links
    that have the server redraw (thinned for the new window) rather than zoom in place."""
    client = boto3_client(tutorial.daemon.url)
    domain = tutorial.daemon.domain
    run = tutorial.daemon.start_workflow("HelloWorkflow", "1.0", task_list="wide-decisions",
                                         workflow_id="wide-run")
    task = client.poll_for_decision_task(domain=domain, taskList={"name": "wide-decisions"})
    client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[
        {"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": {
            "activityId": f"a-{n}", "activityType": {"name": "ActivityA", "version": "1.0"},
            "taskList": {"name": "nobody-works"}, "scheduleToStartTimeout": "600",
            "scheduleToCloseTimeout": "900", "startToCloseTimeout": "300",
            "heartbeatTimeout": "NONE"}} for n in range(101)])
    page.goto(execution_url(tutorial.url, run))
    drawing = page.locator("svg.timeline")
    assert (drawing.get_attribute("data-lanes"), drawing.get_attribute("data-lanes-drawn"),
            drawing.get_attribute("data-thinned")) == ("101", "100", "true")
    group = page.locator("svg.plot g.group")
    assert group.count() == 1 and group.get_attribute("data-lanes") == "101"
    assert group.get_attribute("data-outcomes") == "open:101"
    shoot(page, tmp_path, "lanes-summed-up")

    before = float(page.get_attribute("svg.plot", "viewBox").split()[2])
    page.click("a.zoom.in")
    page.wait_for_url("**from=*")  # a new page, drawn by the server for the window
    after = float(page.get_attribute("svg.plot", "viewBox").split()[2])
    assert after < before * 0.6  # half, give or take the link's rounding to the ms

    page.click("a.lanes-next")
    page.wait_for_url("**lanes=100*")
    lanes = page.locator("svg.timeline").evaluate(LANES_JS)
    assert [lane["id"] for lane in lanes] == ["a-100"]
    assert "lanes 101–101 of 101" in page.locator(".lane-range").inner_text()
    assert "from=" in page.url  # the zoomed window kept
