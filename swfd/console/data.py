"""What the console reads, through the SWF API only (so AWS and the local endpoint alike).

SWF's list calls take one of the workflow-id, type, tag and close-status
filters, plus one time filter. The first filter given (in that order: the most
selective first) goes to SWF; the others are applied here, over as many of
SWF's pages as it takes to fill one page of the console, within a bound. The
listing says which filter went where, so nobody takes a short page for the end.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from swfd.swf.executions import _matches, _server_filters
from swfd.swf.models import CLOSED, OPEN, iter_pages, swf_call

#: SWF pages fetched at most for one console page when filters apply client-side.
MAX_SCANNED_PAGES = 20
MAX_HISTORY_PAGES = 200
TAIL_PAGE = 100  # events a page when reading what an open run added since the last request
#: Events kept in memory in all: an event as boto3 parses it holds about 1.3 KB
#: (measured: 33.5 MB for 25,000), so about 67 MB, two of SWF's largest histories.
KEPT_EVENTS = 50_000

Event = dict[str, Any]

_API_NAMES = {"workflow_id": "workflow id", "workflow_type": "type", "tag": "tag",
              "close_status": "close status"}
_API_PARAMS = {"executionFilter": "workflow_id", "typeFilter": "workflow_type",
               "tagFilter": "tag", "closeStatusFilter": "close_status"}


@dataclass
class Filters:
    """The executions page's query: which list, and the user's filters."""

    state: str = OPEN
    workflow_id: str | None = None
    type_name: str | None = None
    type_version: str | None = None
    tag: str | None = None
    close_status: str | None = None
    oldest: datetime | None = None
    latest: datetime | None = None

    def as_keywords(self) -> dict[str, Any]:
        """swfd.swf.executions' filter keywords."""
        keywords: dict[str, Any] = {
            "workflow_id": self.workflow_id,
            "workflow_type": (self.type_name, self.type_version) if self.type_name else None,
            "tag": self.tag,
            "close_status": self.close_status if self.state == CLOSED else None,
            "start_oldest": self.oldest,
            "start_latest": self.latest,
        }
        return {key: value for key, value in keywords.items() if value is not None}


@dataclass
class Listing:
    infos: list[dict[str, Any]]
    next_token: str | None
    by_swf: list[str] = field(default_factory=list)   # filter names SWF applied
    by_console: list[str] = field(default_factory=list)  # filter names applied here
    scanned_pages: int = 0
    hit_scan_bound: bool = False


def list_executions(client: Any, domain: str, filters: Filters, *, token: str | None = None,
                    page_size: int = 50) -> Listing:
    """One page of executions, newest first, and the token for the next page."""
    params, local = _server_filters(filters.state, filters.as_keywords())
    operation = ("ListOpenWorkflowExecutions" if filters.state == OPEN
                 else "ListClosedWorkflowExecutions")
    listing = Listing([], None,
                      by_swf=[_API_NAMES[_API_PARAMS[p]] for p in params if p in _API_PARAMS],
                      by_console=[_API_NAMES.get(key, key) for key in local])
    while listing.scanned_pages < MAX_SCANNED_PAGES:
        # SWF lists newest first by default; reverseOrder=True would give oldest first.
        page = swf_call(client, operation, domain=domain,
                        maximumPageSize=page_size, nextPageToken=token, **params)
        listing.scanned_pages += 1
        listing.infos += [info for info in page.get("executionInfos", [])
                          if _matches(info, local)]
        token = page.get("nextPageToken")
        if not token or len(listing.infos) >= page_size or not local:
            break
    else:
        listing.hit_scan_bound = bool(token)
    listing.next_token = token
    return listing


@dataclass
class Execution:
    """One run: SWF's description and its whole history."""

    info: dict[str, Any]
    configuration: dict[str, Any]
    open_counts: dict[str, Any]
    events: list[dict[str, Any]]
    latest_activity: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.info.get("executionStatus") == OPEN


def history(client: Any, domain: str, workflow_id: str, run_id: str) -> list[dict[str, Any]]:
    """Every event of the run, oldest first, 1,000 a page."""
    return list(iter_pages(client, "GetWorkflowExecutionHistory", "events", domain=domain,
                           execution={"workflowId": workflow_id, "runId": run_id},
                           maximumPageSize=1000))


class Histories:
    """Histories already read, least recently used out first, so that paging through a
    big one (events, lanes, zoom) or following an open one does not read thousands of
    events again for every click.

    Sound because a history only grows: SWF appends events with ids one after the
    other and never changes one. A closed run's history is final and is used as is.
    An open run's is a prefix: every request still asks SWF, newest first, for what
    came after it (one call, usually) and checks that the event where the two meet
    is the one kept. Bounded by the number of events kept in all (not by histories),
    since one 25,000-event history weighs as much as a thousand small ones. Shared
    by the server's threads; the lists are never changed in place, only replaced.
    """

    def __init__(self, max_events: int = KEPT_EVENTS) -> None:
        self.max_events = max_events
        self._kept: OrderedDict[tuple[str, str, str], tuple[list[Event], bool]] = OrderedDict()
        self._events = 0
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, key: tuple[str, str, str]) -> tuple[list[Event], bool] | None:
        """The events kept for ``key`` and whether they are final (the run had closed)."""
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
                self.hits += 1
            return found

    def put(self, key: tuple[str, str, str], events: list[Event], final: bool) -> None:
        if len(events) > self.max_events:
            return
        with self._lock:
            old = self._kept.pop(key, None)
            if old is not None:
                self._events -= len(old[0])
            self._kept[key] = (events, final)
            self._events += len(events)
            while self._events > self.max_events:
                _, (dropped, _) = self._kept.popitem(last=False)
                self._events -= len(dropped)


def _event_id(event: Event) -> int:
    return int(event.get("eventId", 0))


def history_after(client: Any, domain: str, workflow_id: str, run_id: str,
                  known: list[Event]) -> list[Event]:
    """``known`` (the start of the run's history) and what SWF added since: pages newest
    first until one reaches the last known event. If that event is not the same one
    (not the history ``known`` was read from), the whole history is read again."""
    if not known:
        return history(client, domain, workflow_id, run_id)
    last = known[-1]
    newer: list[Event] = []
    token = None
    for _ in range(MAX_HISTORY_PAGES):
        page = swf_call(client, "GetWorkflowExecutionHistory", domain=domain,
                        execution={"workflowId": workflow_id, "runId": run_id},
                        maximumPageSize=TAIL_PAGE, reverseOrder=True, nextPageToken=token)
        for event in page.get("events", []):
            if _event_id(event) > _event_id(last):
                newer.append(event)
                continue
            same = (_event_id(event) == _event_id(last)
                    and event.get("eventType") == last.get("eventType")
                    and event.get("eventTimestamp") == last.get("eventTimestamp"))
            if not same:
                return history(client, domain, workflow_id, run_id)
            return known + newer[::-1]
        token = page.get("nextPageToken")
        if not token:
            break
    return history(client, domain, workflow_id, run_id)


def execution(client: Any, domain: str, workflow_id: str, run_id: str,
              kept: Histories | None = None) -> Execution:
    """The run's description and history: described first, so that a closed run's
    history can come from ``kept`` whole, and an open run's from what SWF added to
    the part kept; what was read goes back into ``kept``."""
    described = swf_call(client, "DescribeWorkflowExecution", domain=domain,
                         execution={"workflowId": workflow_id, "runId": run_id})
    info = described.get("executionInfo", {})
    closed = info.get("executionStatus") == CLOSED
    key = (domain, workflow_id, run_id)
    found = kept.get(key) if kept is not None else None
    if found is not None and found[1]:
        events = found[0]
    else:
        events = history_after(client, domain, workflow_id, run_id, found[0] if found else [])
        if kept is not None:
            kept.put(key, events, final=closed)
    return Execution(
        info=info,
        configuration=described.get("executionConfiguration", {}),
        open_counts=described.get("openCounts", {}),
        events=events,
        latest_activity=described.get("latestActivityTaskTimestamp"),
    )


def signal(client: Any, domain: str, workflow_id: str, run_id: str, name: str,
           input: str | None) -> None:
    swf_call(client, "SignalWorkflowExecution", domain=domain, workflowId=workflow_id,
             runId=run_id, signalName=name, input=input)


def request_cancel(client: Any, domain: str, workflow_id: str, run_id: str) -> None:
    swf_call(client, "RequestCancelWorkflowExecution", domain=domain, workflowId=workflow_id,
             runId=run_id)


def terminate(client: Any, domain: str, workflow_id: str, run_id: str,
              reason: str | None) -> None:
    swf_call(client, "TerminateWorkflowExecution", domain=domain, workflowId=workflow_id,
             runId=run_id, reason=reason or None)
