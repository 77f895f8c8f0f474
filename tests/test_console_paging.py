"""Big histories on the execution page: the events a page at a time (boundaries,
filters, the jump form, a bar's link landing on the page that holds its event),
the timeline's drawing bounded whatever the history's size, and closed histories
kept between requests. Histories of thousands of events are built by hand (as
event dicts), and one of a few hundred through a real local endpoint."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import unescape
from urllib.parse import parse_qs, urlsplit

import botocore.session
import pytest
from test_console_support import InProcessConsole, request
from test_console_timeline import SVG, History

from swfd.console import svg, timeline
from swfd.console.data import Execution, Histories, history, history_after
from swfd.console.events import FAMILIES, View, family, page_of
from swfd.console.pages import Page

#: What a 25,000-event page's timeline may weigh (measured: see docs/console.md).
SVG_BOUND = 256_000
PAGE_BOUND = 512_000


def big_history(activities: int, batch: int = 100, close: bool = True) -> list[dict]:
    """A workflow that schedules ``activities`` activities ``batch`` at a time, each
    decision after the batch completes (3 events an activity, 3 a decision); every
    97th activity fails and is retried under the same id; a signal every 500."""
    h = History()
    h.add(0, "WorkflowExecutionStarted", workflowType={"name": "Big", "version": "1"},
          input=f'{{"n": {activities}}}')
    at = 0.0
    for first in range(0, activities, batch):
        h.decision(at)
        at += 0.02
        for number in range(first, min(first + batch, activities)):
            h.activity(at + number % batch * 0.001, f"item-{number}", wait=0.01, run=0.05,
                       **({"end": "ActivityTaskFailed", "reason": "flaky"}
                          if number % 97 == 5 else {}))
            if number % 97 == 5:
                h.activity(at + 0.2, f"item-{number}", wait=0.01, run=0.05)
            if number % 500 == 0:
                h.add(at, "WorkflowExecutionSignaled", signalName="more")
        at += 0.5
    h.decision(at)
    if close:
        h.add(at + 0.1, "WorkflowExecutionCompleted", result="done")
    return h.events


def execution_of(events: list[dict], status: str = "CLOSED") -> Execution:
    info = {"execution": {"workflowId": "big", "runId": "r1"}, "executionStatus": status,
            "workflowType": {"name": "Big", "version": "1"}}
    return Execution(info, {}, {}, events)


def render(events: list[dict], view: View) -> str:
    return Page("d", "test", False).execution(execution_of(events), view, now=0.0)


def row_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr class="event[^"]*" id="event-(\d+)"', html)]


def pager_link(html: str, kind: str) -> str | None:
    found = re.search(r'<a class="events-' + kind + r'" href="([^"]*)"', html)
    return unescape(found[1]) if found else None


def view_of(link: str) -> View:
    """The View a link asks for (as the server reads it)."""
    from swfd.console.server import view_from

    query = parse_qs(urlsplit(link).query)
    return view_from(query, query["workflowId"][0], query["runId"][0])


def test_every_event_type_has_a_family():
    names = botocore.session.get_session().get_service_model("swf").shape_for(
        "EventType").enum
    assert {family(name) for name in names} <= set(FAMILIES)
    assert {name: family(name) for name in (
        "ActivityTaskScheduled", "ScheduleActivityTaskFailed", "DecisionTaskTimedOut",
        "TimerFired", "CancelTimerFailed", "WorkflowExecutionSignaled",
        "SignalExternalWorkflowExecutionInitiated", "ChildWorkflowExecutionCompleted",
        "StartChildWorkflowExecutionInitiated", "MarkerRecorded", "LambdaFunctionStarted",
        "WorkflowExecutionStarted", "WorkflowExecutionCancelRequested",
        "CompleteWorkflowExecutionFailed")} == {
        "ActivityTaskScheduled": "activity", "ScheduleActivityTaskFailed": "activity",
        "DecisionTaskTimedOut": "decision", "TimerFired": "timer",
        "CancelTimerFailed": "timer", "WorkflowExecutionSignaled": "signal",
        "SignalExternalWorkflowExecutionInitiated": "signal",
        "ChildWorkflowExecutionCompleted": "child",
        "StartChildWorkflowExecutionInitiated": "child", "MarkerRecorded": "marker",
        "LambdaFunctionStarted": "lambda", "WorkflowExecutionStarted": "workflow",
        "WorkflowExecutionCancelRequested": "workflow",
        "CompleteWorkflowExecutionFailed": "workflow"}


def test_page_boundaries():
    events = big_history(1000)
    total = len(events)
    assert total > 3000
    first = page_of(events, 200)
    assert (first.index, [e["eventId"] for e in first.rows][::199]) == (0, [1, 200])
    assert page_of(events, 200, 200).index == 0    # the last id of page 1
    assert page_of(events, 200, 201).index == 200  # the first of page 2
    assert page_of(events, 200, 201).rows[0]["eventId"] == 201
    last = page_of(events, 200, total)
    assert last.index == (total - 1) // 200 * 200 == last.last_index
    assert last.rows[-1]["eventId"] == total and len(last.rows) == total - last.index
    assert page_of(events, 200, total + 50).index == last.index  # past the end: the last page
    assert page_of(events, 7, 15).rows[0]["eventId"] == 15      # pages of 7: 15, 16, ..., 21
    # Filtered: pages of the activity events only, landing on the first one from the id on.
    activity = page_of(events, 100, 2, ("activity",))
    assert activity.rows[0]["eventType"] == "ActivityTaskScheduled"
    assert all(family(e["eventType"]) == "activity" for e in activity.rows)
    assert activity.selected == sum(family(e["eventType"]) == "activity" for e in events)
    nothing = page_of(events[:1], 200, None, ("timer",))
    assert nothing.rows == [] and nothing.selected == 0


def test_the_pager_walks_every_event_once_and_links_land_on_their_page():
    events = big_history(1000)
    total = len(events)
    html = render(events, View("big", "r1"))
    assert f"events 1–200 of {total:,}" in unescape(html)
    assert pager_link(html, "first") is None and pager_link(html, "previous") is None
    assert row_ids(html) == list(range(1, 201))

    seen, link, pages = [], None, 0
    view = View("big", "r1")
    while pages < 100:
        html = render(events, view)
        seen += row_ids(html)
        pages += 1
        link = pager_link(html, "next")
        if link is None:
            break
        assert link.endswith("#events")
        view = view_of(link)
    assert seen == list(range(1, total + 1)) and pages == -(-total // 200)
    assert pager_link(html, "last") is None and pager_link(html, "previous")
    back = view_of(pager_link(html, "previous"))
    assert row_ids(render(events, back))[0] == (pages - 2) * 200 + 1
    assert view_of(pager_link(render(events, View("big", "r1")), "last")).event == \
        (pages - 1) * 200 + 1

    # Every bar of the timeline leads to the row of its first event: on this page an
    # anchor, elsewhere a link to the page that holds it, anchored to the row.
    page_one = render(events, View("big", "r1", size=200))
    drawn = ET.fromstring(re.search(r"<svg xmlns=.*?</svg></svg>", page_one, re.DOTALL)[0])
    hrefs = [a.get("href") for a in drawn.iter(f"{SVG}a")]
    assert hrefs and all(h.startswith("#event-") or "/execution?" in h for h in hrefs)
    here = [h for h in hrefs if h.startswith("#event-")]
    assert here and all(int(h[7:]) in row_ids(page_one) for h in here)
    elsewhere = [h for h in hrefs if h.startswith("/execution")]
    assert elsewhere
    for href in elsewhere[::10]:
        target = int(href.rsplit("#event-", 1)[1])
        assert target > 200 and view_of(href).event == target
        assert target in row_ids(render(events, view_of(href)))
    # From a filtered page, a bar's event shows even if its family is not shown.
    filtered = render(events, View("big", "r1", families=("decision",)))
    bar = re.search(r'<g class="attempt[^>]*><title>[^<]*</title><a href="([^"]*)"',
                    filtered)[1]
    assert "family=" not in unescape(bar) and "event=" in unescape(bar)


def test_the_timeline_of_25000_events_stays_small():
    events = big_history(8200)
    assert len(events) >= 25_000
    html = render(events, View("big", "r1"))
    drawn = re.search(r"<svg xmlns=.*?</svg></svg>", html, re.DOTALL)[0]
    assert len(drawn.encode()) < SVG_BOUND and len(html.encode()) < PAGE_BOUND
    root = ET.fromstring(drawn)
    lanes = [g for g in root.iter(f"{SVG}g") if "lane" in (g.get("class") or "").split()]
    assert (root.get("data-lanes"), root.get("data-lanes-drawn"), len(lanes)) == (
        "8200", "100", 100)
    assert root.get("data-thinned") == "true"
    assert [g.get("data-id") for g in lanes][:2] == ["item-0", "item-1"]
    groups = [g for g in root.iter(f"{SVG}g") if "group" in (g.get("class") or "").split()]
    assert [(g.get("data-kind"), g.get("data-lanes")) for g in groups] == [("activity", "8200")]
    assert int(groups[0].get("data-peak")) >= 100  # a batch of 100 in flight at once
    decisions = root.find(f".//{SVG}g[@class='decisions']")
    assert int(decisions.get("data-ticks")) == 83
    ticks = decisions.findall(f"{SVG}line")
    assert len(ticks) <= svg.PLOT_WIDTH // svg.THIN_PX * 2

    # The next lanes, and the last ones: the page says which and links on.
    more = re.search(r'<a class="lanes-next" href="([^"]*)"', html)[1]
    assert "lanes 1–100 of 8,200" in unescape(html)
    later = render(events, view_of(unescape(more)))
    root = ET.fromstring(re.search(r"<svg xmlns=.*?</svg></svg>", later, re.DOTALL)[0])
    ids = [g.get("data-id") for g in root.iter(f"{SVG}g")
           if "lane" in (g.get("class") or "").split()]
    assert ids[0] == "item-100" and len(ids) == 100
    last = re.search(r'<a class="lanes-last" href="([^"]*)"', html)[1]
    assert view_of(unescape(last)).lanes_from == 8100


def test_a_lane_retried_past_its_share_draws_its_failures_first():
    h = History()
    h.add(0, "WorkflowExecutionStarted")
    for number in range(50):
        h.activity(number, "again", wait=0.1, run=0.5,
                   **({"end": "ActivityTaskFailed", "reason": f"try {number}"}
                      if number < 49 else {}))
    line = timeline.build(h.events)
    drawn = svg._drawn_attempts(line.lanes[0], 4)
    # The last attempt (how the lane ended), then failures spread over the lane.
    assert [(a.number, a.outcome) for a in drawn] == [
        (1, "failed"), (25, "failed"), (49, "failed"), (50, "completed")]
    root = ET.fromstring(svg.render(line))
    lane = next(g for g in root.iter(f"{SVG}g") if "lane" in (g.get("class") or "").split())
    assert (lane.get("data-attempts"), lane.get("data-drawn")) == ("50", "50")  # one lane: all


def test_histories_are_kept_within_their_bound():
    kept = Histories(max_events=10)
    kept.put(("d", "a", "1"), [{}] * 6, final=True)
    kept.put(("d", "b", "1"), [{}] * 4, final=False)
    assert kept.get(("d", "a", "1"))[1] is True  # a is now the most recently used
    kept.put(("d", "c", "1"), [{}] * 3, final=True)  # over 10: b, the least recent, goes
    assert kept.get(("d", "b", "1")) is None and kept.get(("d", "c", "1")) is not None
    kept.put(("d", "c", "1"), [{}] * 4, final=True)  # replaced, counted once: 6 + 4
    assert kept.get(("d", "a", "1")) is not None
    kept.put(("d", "huge", "1"), [{}] * 11, final=True)  # bigger than the bound: not kept
    assert kept.get(("d", "huge", "1")) is None and kept.get(("d", "a", "1")) is not None


@pytest.fixture
def endpoint_run(swf_client, domain):
    """A run decided by hand on a real endpoint: 100 activities, so 300-odd events."""
    swf_client.register_workflow_type(
        domain=domain, name="Wide", version="1", defaultTaskList={"name": "decide"},
        defaultTaskStartToCloseTimeout="30", defaultExecutionStartToCloseTimeout="600",
        defaultChildPolicy="TERMINATE")
    swf_client.register_activity_type(
        domain=domain, name="Step", version="1", defaultTaskList={"name": "steps"},
        defaultTaskScheduleToStartTimeout="60", defaultTaskStartToCloseTimeout="60",
        defaultTaskScheduleToCloseTimeout="120", defaultTaskHeartbeatTimeout="NONE")
    started = swf_client.start_workflow_execution(
        domain=domain, workflowId="wide", workflowType={"name": "Wide", "version": "1"})
    run = {"workflowId": "wide", "runId": started["runId"]}
    task = swf_client.poll_for_decision_task(domain=domain, taskList={"name": "decide"})
    swf_client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[
        {"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": {
            "activityId": f"step-{n}", "activityType": {"name": "Step", "version": "1"}}}
        for n in range(100)])
    for _ in range(100):
        step = swf_client.poll_for_activity_task(domain=domain, taskList={"name": "steps"})
        swf_client.respond_activity_task_completed(taskToken=step["taskToken"])
    return run


def test_pages_over_http_and_histories_read_once(swf_client, domain, endpoint_run):
    run = endpoint_run
    calls: list[dict] = []  # GetWorkflowExecutionHistory's parameters, call by call
    swf_client.meta.events.register(
        "provide-client-params.swf.GetWorkflowExecutionHistory",
        lambda params, **_: calls.append(dict(params)))
    console = InProcessConsole(swf_client, domain)
    base = f"/execution?workflowId=wide&runId={run['runId']}"
    try:
        first = request(console.url, base + "&events=50")
        assert first.status == 200 and row_ids(first.text) == list(range(1, 51))
        total = int(re.search(r'data-total="(\d+)"', first.text)[1])
        assert total > 300 and len(calls) == 1 and not calls[0].get("reverseOrder")
        seen, page = [], first
        for _ in range(20):
            seen += row_ids(page.text)
            link = pager_link(page.text, "next")
            if link is None:
                break
            page = request(console.url, link.split("#")[0])
            assert page.status == 200
        assert seen == list(range(1, total + 1))
        # Open: every later request asked SWF what came after the events it had read,
        # newest first (one call each), rather than for the whole history again.
        pages = -(-total // 50)
        assert len(calls) == pages and all(c.get("reverseOrder") for c in calls[1:])

        # ... and shows what was added since.
        swf_client.signal_workflow_execution(domain=domain, workflowId="wide",
                                             signalName="late")
        tail = request(console.url, base + f"&events=50&event={total + 1}")
        assert row_ids(tail.text)[-1] == total + 1
        assert re.findall(r'data-event-type="(\w+)"', tail.text)[-1] == \
            "WorkflowExecutionSignaled"
        assert len(calls) == pages + 1

        # The jump form: a redirect to the page holding the event, at its row.
        jump = request(console.url, base + "&events=50&jump=123")
        assert jump.status == 303
        location = jump.headers["location"]
        assert location.endswith("#event-123") and "event=123" in location
        landed = request(console.url, location.split("#")[0])
        assert row_ids(landed.text)[0] == 101 and 'class="event landed" id="event-123"' in \
            landed.text
        for bad in ("&events=0", "&events=1001", "&event=abc", "&lanes=-1", "&family=mystery",
                    "&jump=0"):
            assert request(console.url, base + bad).status == 400, bad

        # Closed: read once more (its end), then served from memory: it never changes.
        swf_client.terminate_workflow_execution(domain=domain, workflowId="wide")
        before = len(calls)
        closed = [request(console.url, base + f"&event={n}") for n in (1, 250, 300)]
        assert all(page.status == 200 for page in closed)
        assert 'data-status="TERMINATED"' in closed[0].text
        assert re.findall(r'data-event-type="(\w+)"', closed[0].text)[0] == \
            "WorkflowExecutionStarted"
        assert len(calls) == before + 1
        activities = request(console.url, base + "&family=activity&events=1000")
        assert set(re.findall(r'data-event-type="(\w+)"', activities.text)) == {
            "ActivityTaskScheduled", "ActivityTaskStarted", "ActivityTaskCompleted"}
        assert len(row_ids(activities.text)) == 300 and len(calls) == before + 1
        terminated = request(console.url, base + "&family=workflow")
        assert "WorkflowExecutionTerminated" in terminated.text

        # Kept events that are not the start of this history: read it all again.
        whole = history(swf_client, domain, "wide", run["runId"])
        stale = [{**whole[0]}, {**whole[1], "eventType": "WorkflowExecutionSignaled"}]
        assert history_after(swf_client, domain, "wide", run["runId"], stale) == whole
        assert history_after(swf_client, domain, "wide", run["runId"], whole[:7]) == whole
    finally:
        console.close()


def test_decision_ticks_are_thinned_to_what_shows():
    h = History()
    h.add(0, "WorkflowExecutionStarted")
    for number in range(3000):  # one decision task every 0.1 s for 300 s
        h.decision(number * 0.1, took=0.01, timed_out=number == 1234)
        if number % 3 == 0:
            h.add(number * 0.1 + 0.05, "WorkflowExecutionSignaled", signalName="tick")
    h.add(300.0, "WorkflowExecutionCompleted")
    line = timeline.build(h.events)
    columns = svg.PLOT_WIDTH // svg.THIN_PX

    def decisions(root):
        row = root.find(f".//{SVG}g[@class='decisions']")
        ticks = [x for x in row.findall(f"{SVG}line") if "tick" in x.get("class").split()]
        marks = [x for x in row.findall(f"{SVG}line") if "mark" in x.get("class").split()]
        return row, ticks, marks

    root = ET.fromstring(svg.render(line))
    row, ticks, marks = decisions(root)
    assert (row.get("data-ticks"), row.get("data-marks")) == ("3000", "1000")
    assert columns // 2 <= len(ticks) <= columns and len(marks) <= columns
    assert int(row.get("data-ticks-drawn")) == len(ticks) and root.get("data-thinned") == "true"
    # The timed-out one wins its column.
    assert [t.get("data-outcome") for t in ticks].count("timed_out") == 1
    # Zoomed to 10 s: only that window's ticks, every one of them (100 < columns).
    _, ticks, _ = decisions(ET.fromstring(svg.render(line, 100.0, 110.0)))
    starts = [float(t.get("data-started")) - 1000.0 for t in ticks]
    assert len(ticks) == 100 and 100.0 <= min(starts) and max(starts) <= 110.0


def test_lanes_past_the_end_show_the_last_ones():
    events = big_history(250)
    html = render(events, View("big", "r1", lanes_from=99_999))
    root = ET.fromstring(re.search(r"<svg xmlns=.*?</svg></svg>", html, re.DOTALL)[0])
    ids = [g.get("data-id") for g in root.iter(f"{SVG}g")
           if "lane" in (g.get("class") or "").split()]
    assert ids[0] == "item-200" and len(ids) == 50 and root.get("data-lanes-from") == "200"
    assert "lanes 201–250 of 250" in unescape(html)
    earlier = re.search(r'<a class="lanes-previous" href="([^"]*)"', html)[1]
    assert view_of(unescape(earlier)).lanes_from == 100
    assert '<a class="lanes-next"' not in html
    middle = render(events, View("big", "r1", lanes_from=50))  # not on a page boundary
    assert view_of(unescape(re.search(r'<a class="lanes-previous" href="([^"]*)"',
                                      middle)[1])).lanes_from == 0
