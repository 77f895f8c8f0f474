"""An execution's events a page at a time, and the query that says which page.

SWF histories reach 25,000 events; one table of them all is a 13 MB page. The
table shows ``size`` events (200 by default), pages aligned on the list shown
(so the page holding event N is always the same page), optionally only some
*families* of events (activity, decision, timer, ...). Links name an event id
rather than a page number: the page that holds that id is shown, which stays
right while an open execution's history grows.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from swfd.console.timeline import seconds

Event = dict[str, Any]

DEFAULT_PAGE = 200
MAX_PAGE = 1000

#: Families, in the order the filter form lists them, and a word of the event type
#: that puts it there (the first that matches; "workflow" takes the rest).
FAMILIES = ("activity", "decision", "timer", "signal", "child", "marker", "lambda", "workflow")
_FAMILY_WORDS = (("Signal", "signal"), ("Marker", "marker"), ("ChildWorkflow", "child"),
                 ("DecisionTask", "decision"), ("ActivityTask", "activity"),
                 ("Timer", "timer"), ("LambdaFunction", "lambda"))


def family(event_type: str) -> str:
    """``ActivityTaskScheduled`` -> ``activity``; ``WorkflowExecutionSignaled`` -> ``signal``;
    the workflow's own start, close, cancel requests and the like -> ``workflow``."""
    for word, name in _FAMILY_WORDS:
        if word in event_type:
            return name
    return "workflow"


@dataclass(frozen=True)
class View:
    """What one execution page shows: which run, the timeline's window and first lane,
    the events' page size, the event to land on, and the families of events shown."""

    workflow_id: str
    run_id: str
    window: tuple[float | None, float | None] = (None, None)
    lanes_from: int = 0
    size: int = DEFAULT_PAGE
    event: int | None = None
    families: tuple[str, ...] = field(default=())

    def query(self) -> dict[str, Any]:
        params: dict[str, Any] = {"workflowId": self.workflow_id, "runId": self.run_id}
        if self.window[0] is not None or self.window[1] is not None:
            low, high = self.window
            params.update({"from": f"{max(low or 0.0, 0.0):.3f}",
                           "to": "" if high is None else f"{high:.3f}"})
        if self.lanes_from:
            params["lanes"] = self.lanes_from
        if self.size != DEFAULT_PAGE:
            params["events"] = self.size
        if self.event is not None:
            params["event"] = self.event
        if self.families:
            params["family"] = list(self.families)
        return {k: v for k, v in params.items() if v not in (None, "")}

    def link(self, fragment: str = "", **changes: Any) -> str:
        """``/execution?...`` for this view with ``changes`` (unescaped: escape it for HTML)."""
        changed = replace(self, **changes) if changes else self
        return f"/execution?{urlencode(changed.query(), doseq=True)}{fragment}"


@dataclass
class EventPage:
    """One page of the (possibly filtered) events: ``rows`` from position ``index``."""

    rows: list[Event]
    index: int
    size: int
    ids: list[int]      # every shown-list event id, in order (for the pager's links)
    total: int          # events in the whole history
    families: tuple[str, ...]
    start: float = 0.0  # the history's first event's time: rows show time since then

    @property
    def selected(self) -> int:
        return len(self.ids)

    @property
    def row_ids(self) -> set[int]:
        return set(self.ids[self.index:self.index + len(self.rows)])

    def first_id_of(self, index: int) -> int | None:
        """The first event id of the page starting at ``index``, if there is one."""
        return self.ids[index] if 0 <= index < len(self.ids) else None

    @property
    def last_index(self) -> int:
        return max(len(self.ids) - 1, 0) // self.size * self.size


def event_id(event: Event) -> int:
    return int(event.get("eventId", 0))


def page_of(events: list[Event], size: int, event: int | None = None,
            families: tuple[str, ...] = ()) -> EventPage:
    """The page of ``size`` events (of ``families``, or all) holding event id ``event``
    (the first event from that id on, when it is filtered out or past the end), or the
    first page."""
    shown = events if not families else [e for e in events
                                         if family(e.get("eventType", "")) in families]
    ids = [event_id(e) for e in shown]
    position = 0 if event is None else min(bisect_left(ids, event), max(len(ids) - 1, 0))
    index = position // size * size
    start = seconds(events[0]["eventTimestamp"]) if events else 0.0
    return EventPage(shown[index:index + size], index, size, ids, len(events), families, start)
