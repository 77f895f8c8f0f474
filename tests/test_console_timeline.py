"""The console's timeline model and its SVG, from hand-built histories."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from swfd.console import svg, timeline

SVG = "{http://www.w3.org/2000/svg}"


class History:
    """Builds events with increasing ids; ``at`` is seconds since 1000."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def add(self, at: float, event_type: str, **attrs) -> int:
        event_id = len(self.events) + 1
        key = event_type[0].lower() + event_type[1:] + "EventAttributes"
        self.events.append({"eventId": event_id, "eventTimestamp": 1000.0 + at,
                            "eventType": event_type, key: attrs})
        return event_id

    def decision(self, at: float, took: float = 0.01, timed_out: bool = False) -> int:
        scheduled = self.add(at, "DecisionTaskScheduled", taskList={"name": "d"})
        started = self.add(at + 0.001, "DecisionTaskStarted", scheduledEventId=scheduled)
        closing = "DecisionTaskTimedOut" if timed_out else "DecisionTaskCompleted"
        extra = {"timeoutType": "START_TO_CLOSE"} if timed_out else {}
        return self.add(at + took, closing, scheduledEventId=scheduled, startedEventId=started,
                        **extra)

    def activity(self, at: float, activity_id: str, *, wait: float, run: float,
                 end: str = "ActivityTaskCompleted", **end_attrs) -> None:
        scheduled = self.add(at, "ActivityTaskScheduled", activityId=activity_id,
                             activityType={"name": "Work", "version": "1"})
        started = self.add(at + wait, "ActivityTaskStarted", scheduledEventId=scheduled)
        self.add(at + wait + run, end, scheduledEventId=scheduled, startedEventId=started,
                 **end_attrs)


def lanes_by_id(line: timeline.Timeline) -> dict[str, timeline.Lane]:
    return {lane.id: lane for lane in line.lanes}


def test_activities_with_a_retry_a_failure_and_a_timeout():
    h = History()
    h.add(0, "WorkflowExecutionStarted", workflowType={"name": "W", "version": "1"})
    h.decision(0.1)
    h.activity(0.2, "a", wait=0.1, run=1.0, end="ActivityTaskFailed", reason="boom")
    h.activity(0.2, "b", wait=0.3, run=0.5)
    h.activity(2.0, "a", wait=0.05, run=0.5)  # the retry: same id, attempt 2
    scheduled = h.add(3.0, "ActivityTaskScheduled", activityId="c",
                      activityType={"name": "Slow", "version": "2"})
    h.add(8.0, "ActivityTaskTimedOut", scheduledEventId=scheduled, timeoutType="SCHEDULE_TO_START")
    h.add(8.5, "ScheduleActivityTaskFailed", activityId="d",
          activityType={"name": "Gone", "version": "1"}, cause="ACTIVITY_TYPE_DOES_NOT_EXIST")
    h.add(9.0, "WorkflowExecutionFailed", reason="c timed out")

    line = timeline.build(h.events)
    lanes = lanes_by_id(line)
    assert [lane.id for lane in line.lanes] == ["a", "b", "c", "d"]  # first appearance
    a = lanes["a"]
    assert a.kind == "activity" and a.name == "Work/1" and a.retried
    assert [(x.number, x.outcome) for x in a.attempts] == [(1, "failed"), (2, "completed")]
    assert a.attempts[0].detail == "boom"
    assert (a.attempts[0].scheduled, a.attempts[0].started) == (1000.2, 1000.3)
    assert abs(a.attempts[0].closed - 1001.3) < 1e-9
    assert a.attempts[1].scheduled == 1002.0 and a.outcome == "completed"
    assert lanes["b"].attempts[0].outcome == "completed" and not lanes["b"].retried
    c = lanes["c"].attempts[0]
    assert (c.outcome, c.detail, c.started, c.closed) == ("timed_out", "SCHEDULE_TO_START",
                                                         None, 1008.0)
    d = lanes["d"].attempts[0]
    assert (d.outcome, d.detail, d.scheduled, d.closed) == (
        "failed", "ACTIVITY_TYPE_DOES_NOT_EXIST", 1008.5, 1008.5)
    assert line.closed and line.close_status == "FAILED"
    assert (line.start, line.end) == (1000.0, 1009.0)


def test_timers_children_and_lambdas():
    h = History()
    h.add(0, "WorkflowExecutionStarted")
    fired = h.add(1, "TimerStarted", timerId="wait", startToFireTimeout="5")
    canceled = h.add(1, "TimerStarted", timerId="guard", startToFireTimeout="60")
    h.add(2, "TimerCanceled", timerId="guard", startedEventId=canceled)
    h.add(6, "TimerFired", timerId="wait", startedEventId=fired)
    initiated = h.add(6, "StartChildWorkflowExecutionInitiated", workflowId="kid",
                      workflowType={"name": "Child", "version": "1"})
    h.add(6.5, "ChildWorkflowExecutionStarted", initiatedEventId=initiated,
          workflowExecution={"workflowId": "kid", "runId": "r"})
    h.add(9, "ChildWorkflowExecutionTerminated", initiatedEventId=initiated, startedEventId=0)
    refused = h.add(7, "StartChildWorkflowExecutionInitiated", workflowId="twin",
                    workflowType={"name": "Child", "version": "1"})
    h.add(7.1, "StartChildWorkflowExecutionFailed", initiatedEventId=refused, workflowId="twin",
          cause="WORKFLOW_ALREADY_STARTED")
    scheduled = h.add(8, "LambdaFunctionScheduled", id="fn", name="resize")
    h.add(8.2, "LambdaFunctionStarted", scheduledEventId=scheduled)
    h.add(8.4, "LambdaFunctionCompleted", scheduledEventId=scheduled, startedEventId=0)

    line = timeline.build(h.events, now=1010.0)
    lanes = lanes_by_id(line)
    wait, guard = lanes["wait"].attempts[0], lanes["guard"].attempts[0]
    assert lanes["wait"].kind == "timer" and lanes["wait"].name == "timer 5s"
    assert (wait.started, wait.closed, wait.outcome) == (1001.0, 1006.0, "fired")
    assert (guard.closed, guard.outcome) == (1002.0, "canceled")
    kid = lanes["kid"]
    assert (kid.kind, kid.name, kid.run_id) == ("child", "Child/1", "r")
    assert (kid.last.scheduled, kid.last.started, kid.last.closed, kid.outcome) == (
        1006.0, 1006.5, 1009.0, "terminated")
    twin = lanes["twin"].last
    assert (twin.outcome, twin.detail, twin.started) == ("failed", "WORKFLOW_ALREADY_STARTED", None)
    fn = lanes["fn"]
    assert (fn.kind, fn.name, fn.outcome, fn.last.started) == ("lambda", "resize", "completed",
                                                               1008.2)
    assert not line.closed and line.end == 1010.0  # open: drawn up to now
    links = [a.get("href") for a in parse(svg.render(line)).iter(f"{SVG}a")]
    assert "/execution?workflowId=kid&runId=r" in links  # the child's label leads to it


def test_decision_ticks_marks_and_open_work():
    h = History()
    h.add(0, "WorkflowExecutionStarted")
    h.decision(0.0)
    h.decision(1.0, took=5.0, timed_out=True)
    scheduled = h.add(2, "ActivityTaskScheduled", activityId="long",
                      activityType={"name": "Work", "version": "1"})
    h.add(2.5, "ActivityTaskStarted", scheduledEventId=scheduled)
    h.add(3, "ActivityTaskCancelRequested", activityId="long", decisionTaskCompletedEventId=4)
    h.add(4, "WorkflowExecutionSignaled", signalName="poke", input="{}")
    h.add(4.5, "MarkerRecorded", markerName="checkpoint", decisionTaskCompletedEventId=4)
    h.add(5, "DecisionTaskScheduled", taskList={"name": "d"})  # never started

    line = timeline.build(h.events, now=1020.0)
    assert [(t.outcome, t.started is not None) for t in line.ticks] == [
        ("completed", True), ("timed_out", True), ("open", False)]
    assert line.ticks[1].closed == 1006.0
    assert [(m.kind, m.label) for m in line.marks] == [("signal", "poke"),
                                                       ("marker", "checkpoint")]
    long = lanes_by_id(line)["long"]
    assert long.last.is_open and long.outcome == "open" and long.cancel_requested == 1003.0
    assert line.end == 1020.0


def test_an_empty_history_has_no_lanes():
    line = timeline.build([], now=5.0)
    assert line.lanes == [] and line.ticks == [] and line.span > 0


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)


def test_svg_lanes_carry_their_times_and_escape_what_users_wrote():
    h = History()
    h.add(0, "WorkflowExecutionStarted")
    h.decision(0.0)
    nasty = '<script>alert("x")</script>&'
    h.activity(1.0, nasty, wait=0.5, run=2.0, end="ActivityTaskFailed", reason="</svg>")
    h.activity(4.0, nasty, wait=0.1, run=1.0)
    h.add(6, "WorkflowExecutionCompleted", result="ok")
    drawn = svg.render(timeline.build(h.events))
    assert "<script>" not in drawn

    root = parse(drawn)  # well-formed XML, whatever the ids held
    assert root.get("data-closed") == "true"
    lanes = root.findall(f".//{SVG}g[@class]")
    lane = next(g for g in lanes if "lane" in g.get("class").split())
    assert (lane.get("data-kind"), lane.get("data-id"), lane.get("data-attempts"),
            lane.get("data-outcome")) == ("activity", nasty, "2", "completed")
    attempts = lane.findall(f"{SVG}g")
    assert [a.get("data-outcome") for a in attempts] == ["failed", "completed"]
    first = attempts[0]
    assert (float(first.get("data-scheduled")), float(first.get("data-started")),
            float(first.get("data-closed"))) == (1001.0, 1001.5, 1003.5)
    assert first.find(f"{SVG}line").get("class") == "end-mark"  # the failure is marked
    run = first.find(f".//{SVG}rect[@class='run']")
    assert first.find(f"{SVG}a").get("href") == "#event-5"  # the bar leads to its event
    # x in milliseconds since the start: the plot's viewBox does the scaling.
    assert (float(run.get("x")), float(run.get("width"))) == (1500.0, 2000.0)
    ticks = root.findall(f".//{SVG}line[@data-outcome]")
    assert [t.get("data-outcome") for t in ticks] == ["completed"]
    plot = root.find(f"{SVG}svg")
    assert plot.get("viewBox").split()[:2] == ["0.000", "0"]
    assert float(plot.get("viewBox").split()[2]) == 6000.0


def test_svg_window_is_the_plots_viewbox():
    h = History()
    h.add(0, "WorkflowExecutionStarted")
    h.activity(1.0, "x", wait=1, run=8)
    h.add(10, "WorkflowExecutionCompleted")
    line = timeline.build(h.events)
    plot = parse(svg.render(line, 2.0, 4.0)).find(f"{SVG}svg")
    assert plot.get("viewBox").split()[:3] == ["2000.000", "0", "2000.000"]
    # a window past the end is clamped to the run
    root = parse(svg.render(line, 20.0, 30.0))
    assert (root.get("data-from"), root.get("data-to")) == ("0.000", "10.000")
