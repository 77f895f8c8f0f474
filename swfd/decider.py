"""The decider process: poll a decision task (every page), run the workflow's logic, answer.

:class:`DecisionPoller` is what a generation's decider child runs. For each decision
task it looks up the workflow type among the plugins' definitions:

- an unknown type is *not answered* and logged as an error: the decision task
  times out and SWF hands it to a decider that knows the type (a rolling
  deploy where hosts run different plugin versions);
- otherwise the handler gets a :class:`DecisionTask` and returns a
  ``swfd.Decisions`` (or a list of decision dicts, or None for none), which
  is sent with RespondDecisionTaskCompleted.

Decision logic that raises (or returns decisions SWF refuses) never leaves
the workflow silently stuck: swfd answers with a ``swfd:decider-error`` marker
(attempt number and traceback) and a ``swfd-retry-N`` timer with capped
exponential backoff (1, 2, 4 ... 300 s). When the timer fires the handler is
called again. With ``decider_max_attempts`` set, the attempt that reaches it
fails the workflow instead. These markers and timers are swfd's own: they are
hidden from ``task.events`` and ``task.history`` (``task.raw_events`` keeps
everything), so seed-style "look at the last event" deciders see the same
history on a retry as on the first try. The ``swfd:`` marker-name prefix and
the ``swfd-`` timer-id prefix are reserved for this.

With the pool's ``history_cache`` on, a process polls only the events since the
previous decision and puts its cached events in front (swfd.history_cache);
handlers see the same history either way.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import traceback
from typing import Any

from swfd import codecs, history_cache, logs, metrics
from swfd.codecs import sendable, swf_length, truncate
from swfd.errors import CodecError
from swfd.history_cache import HistoryCache
from swfd.polling import PollingChild
from swfd.registry import WorkflowDef, seconds_or_none
from swfd.swf.retry import call, error_code, without_values

log = logging.getLogger(__name__)

ERROR_MARKER = "swfd:decider-error"
MARKER_PREFIX = "swfd:"
TIMER_PREFIX = "swfd-"
RETRY_TIMER = TIMER_PREFIX + "retry-{n}"
MAX_BACKOFF = 300
MIN_RESPOND_RETRY = 5.0  # an answer is retried at least this long, even at the timeout's edge
MAX_REASON = 256
MAX_DETAILS = 32768

_TIMER_EVENTS = frozenset(
    {"TimerStarted", "TimerFired", "TimerCanceled", "StartTimerFailed", "CancelTimerFailed"}
)
_MARKER_EVENTS = frozenset({"MarkerRecorded", "RecordMarkerFailed"})
# Decision attributes that carry payloads a json-codec workflow may give as Python values.
_PAYLOAD_FIELDS = ("input", "result", "details")
# Errors meaning "these decisions are wrong" (from SWF, or botocore's own parameter check).
# SerializationException: a body SWF cannot read, e.g. a payload with a lone surrogate.
_REFUSED_DECISIONS = frozenset({"ValidationException", "ValidationError", "ParamValidationError",
                                "SerializationException"})


class DecisionsRefused(Exception):
    """SWF (or botocore's parameter check) refused a batch of decisions."""


def _attrs(event: dict[str, Any]) -> dict[str, Any]:
    kind = event["eventType"]
    return event.get(kind[0].lower() + kind[1:] + "EventAttributes", {})


def is_swfd_event(event: dict[str, Any]) -> bool:
    """True for swfd's own retry markers and timers (hidden from handlers)."""
    kind = event["eventType"]
    if kind in _MARKER_EVENTS:
        return str(_attrs(event).get("markerName", "")).startswith(MARKER_PREFIX)
    if kind in _TIMER_EVENTS:
        return str(_attrs(event).get("timerId", "")).startswith(TIMER_PREFIX)
    return False


def _last_missing(polled: list[dict[str, Any]], end: int) -> int:
    """The highest eventId up to ``end`` that the poll did not return."""
    first, last = polled[0]["eventId"], polled[-1]["eventId"]
    if last >= end and last - first == len(polled) - 1:
        return first - 1
    have = {e["eventId"] for e in polled}
    return max((i for i in range(1, end + 1) if i not in have), default=0)


def backoff(attempt: int) -> int:
    """Seconds before retry number ``attempt`` (1, 2, 4, ... capped at 300)."""
    return min(MAX_BACKOFF, 2 ** min(attempt - 1, 16))


class RunView:
    """What a decision task derives from its run's raw events, in one pass that can be
    resumed: the events handlers see (swfd's own markers and timers removed), the
    decision-error state, and the History once a handler asked for it.

    Without the history cache each task builds its own. With it, the run's view
    stays in the cache beside its events, and the next task of the run in this
    process (a hit) advances it by the new events only, so a decision costs what is
    new rather than the whole history. A miss starts a fresh view.
    """

    __slots__ = ("completed", "count", "error_tasks", "events", "flow", "history",
                 "open_timers")

    def __init__(self) -> None:
        self.count = 0  # raw events taken in (the first ``count`` of the run's)
        self.events: list[dict[str, Any]] = []
        self.error_tasks: set[Any] = set()  # DecisionTaskCompleted ids with an error marker
        self.completed: list[int] = []  # DecisionTaskCompleted ids, oldest first
        self.open_timers: dict[str, bool] = {}  # swfd retry timers started, not closed
        self.history: Any = None
        self.flow: Any = None  # an async def workflow's instance kept for the run's next task

    @property
    def bytes_per_event(self) -> int:
        """About what this view holds per event of the run (the history cache's budget)."""
        return history_cache.VIEW_BYTES + getattr(self.flow, "bytes_per_event", 0)

    def advance(self, raw: list[dict[str, Any]]) -> None:
        """Take in ``raw[self.count:]``: ``raw`` must begin with the events already
        taken in (a fresh view takes all)."""
        new = raw[self.count:] if self.count else raw
        visible = []
        for event in new:
            kind = event["eventType"]
            if kind in _MARKER_EVENTS or kind in _TIMER_EVENTS:
                if not is_swfd_event(event):
                    visible.append(event)
                    continue
                attrs = _attrs(event)
                if kind == "MarkerRecorded" and attrs.get("markerName") == ERROR_MARKER:
                    self.error_tasks.add(attrs.get("decisionTaskCompletedEventId"))
                elif kind == "TimerStarted":
                    self.open_timers[attrs.get("timerId", "")] = True
                elif kind in ("TimerFired", "TimerCanceled"):
                    self.open_timers.pop(attrs.get("timerId", ""), None)
                continue
            if kind == "DecisionTaskCompleted":
                self.completed.append(event["eventId"])
            visible.append(event)
        self.events = self.events + visible if self.events else visible
        self.count = len(raw)

    def error_state(self) -> tuple[int, int, list[str]]:
        """(decision errors in a row, error markers in all, open swfd retry timer ids)."""
        in_a_row = 0
        for event_id in reversed(self.completed):
            if event_id not in self.error_tasks:
                break
            in_a_row += 1
        return in_a_row, len(self.error_tasks), list(self.open_timers)

    def history_of(self, events: list[dict[str, Any]]) -> Any:
        """The History of ``events`` (this view's): built once, then extended."""
        from swfd.history import History

        history = self.history
        if history is None or len(history.events) > len(events):
            history = self.history = History(events)
        elif len(history.events) < len(events):
            history.extend(events[len(history.events):])
        return history


class DecisionTask:
    """What decision logic receives: the whole history of one decision task.

    ``events`` (every page, oldest first, swfd's own markers and timers
    removed), ``history`` (a :class:`swfd.history.History` over ``events``),
    ``new_events`` (those after the previous decision), ``raw_events``
    (everything), ``input`` (the execution's input decoded per the workflow's
    codec), ``workflow_execution``, ``workflow_type``, ``task_token``,
    ``attempt`` (1, or the retry number after decision errors).

    ``view`` is the run's :class:`RunView` kept by the history cache (``events``
    must then begin with the events it took in); the lists and the History handed
    to handlers are for reading only. ``run_view`` is that view when it is kept
    for the run's next task (None without the cache): where an ``async def``
    workflow keeps its suspended instance (swfd.flow.sticky).
    """

    def __init__(self, response: dict[str, Any], events: list[dict[str, Any]],
                 definition: WorkflowDef | None, view: RunView | None = None) -> None:
        self.task_token: str = response["taskToken"]
        self.workflow_execution: dict[str, str] = response["workflowExecution"]
        self.workflow_type: dict[str, str] = response["workflowType"]
        self.started_event_id: int = response.get("startedEventId", 0)
        self.previous_started_event_id: int = response.get("previousStartedEventId", 0)
        self.definition = definition
        self.received = time.monotonic()
        self.raw_events = events
        self.run_view = view if view is not None and view.count <= len(events) else None
        if self.run_view is None:
            view = RunView()
        view.advance(events)
        self._view = view
        self.events = view.events
        self.errors_in_a_row, self.errors_total, self.open_retry_timers = view.error_state()
        self.attempt = self.errors_in_a_row + 1
        self.input_undecodable = False

    @functools.cached_property
    def history(self) -> Any:
        return self._view.history_of(self.events)

    @property
    def new_events(self) -> list[dict[str, Any]]:
        """The events after the previous decision (found from the end: they are few)."""
        previous = self.previous_started_event_id or 0
        start = len(self.events)
        while start and self.events[start - 1]["eventId"] > previous:
            start -= 1
        return self.events[start:]

    @property
    def input(self) -> Any:
        try:
            return self._decode_input()
        except CodecError:
            self.input_undecodable = True
            raise

    def _decode_input(self) -> Any:
        started = next((e for e in self.raw_events
                        if e["eventType"] == "WorkflowExecutionStarted"), None)
        raw = _attrs(started).get("input") if started else None
        codec = self.definition.codec if self.definition else "raw"
        name = f"{self.workflow_type['name']} {self.workflow_type['version']}"
        return codecs.decode(codec, raw, f"input of workflow {name}")

    @property
    def log_context(self) -> dict[str, Any]:
        return {
            "workflowId": self.workflow_execution.get("workflowId", ""),
            "runId": self.workflow_execution.get("runId", ""),
            "decisionStartedEventId": self.started_event_id,
        }


def _error_marker(attempt: int, error: str, details: str) -> str:
    """The decider-error marker's details: JSON within SWF's 32768 characters, however
    non-ASCII the error is (escaped, one character can take twelve)."""
    budget = 30000
    for _ in range(20):
        marker = json.dumps({"attempt": attempt, "error": truncate(sendable(error), 1024),
                             "traceback": truncate(sendable(details), budget, keep="tail")},
                            ensure_ascii=False)
        if swf_length(marker) <= MAX_DETAILS:
            return marker
        budget //= 2
    return json.dumps({"attempt": attempt, "error": "(too long to record)"})


class DecisionPoller(PollingChild):
    """One decider process: poll a decision task list, hand each history to the plugin."""

    kind = "decider"
    poll_operation = "PollForDecisionTask"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache = HistoryCache(self.pool.history_cache_mb * 2 ** 20) if getattr(
            self.pool, "history_cache", False) else None

    def poll(self) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """One decision task with every page of its history, or None for an empty poll.

        With the history cache on, the poll asks only for the events since the previous
        decision and :meth:`complete_history` puts the rest in front of them.
        """
        params: dict[str, Any] = {"domain": self.settings.domain,
                                  "taskList": {"name": self.pool.task_list},
                                  "identity": self.identity}
        if self.cache is not None:
            params["startAtPreviousStartedEvent"] = True
        response = call(self.client, "PollForDecisionTask", max_attempts=1, quiet=True,
                        **params)
        if not response or not response.get("taskToken"):
            return None
        events = list(response.get("events", []))
        token = response.get("nextPageToken")
        kind = response["workflowType"]
        known = self.registry.workflow(kind["name"], kind["version"]) is not None
        if not known:
            token = None  # not answered anyway (see handle): spare the other pages
        for _ in range(100_000):  # SWF caps a history at 25,000 events
            if not token:
                break
            page = call(self.client, "PollForDecisionTask", deadline=time.monotonic() + 60,
                        nextPageToken=token, **params)
            events.extend(page.get("events", []) if page else [])
            token = page.get("nextPageToken") if page else None
        if self.cache is not None and known:
            events = self.complete_history(response["workflowExecution"], events,
                                           response.get("startedEventId", 0))
        return response, events

    def complete_history(self, execution: dict[str, str], polled: list[dict[str, Any]],
                         started_event_id: int = 0) -> list[dict[str, Any]]:
        """Events 1..N of the task: the cached ones joined to ``polled`` by contiguous
        ``eventId`` (a hit), else those GetWorkflowExecutionHistory returns (a miss)."""
        assert self.cache is not None
        if not polled:
            return polled
        run = (execution["workflowId"], execution["runId"])
        end = max(started_event_id, polled[-1]["eventId"])
        view = None  # a miss or a run's first task: the events are new dicts, a new view
        events = history_cache.join([], polled, end) if polled[0]["eventId"] == 1 else None
        if events is None:  # not the run's first decision task
            events = history_cache.join(self.cache.get(run), polled, end)
            outcome = "miss" if events is None else "hit"
            if events is not None:
                view = self.cache.view(run)
            if events is None:
                fetched = self.fetch_history(execution, _last_missing(polled, end))
                events = history_cache.join(fetched, polled, end)
                if events is None or not history_cache.contiguous_from_one(fetched):
                    self.cache.drop(run)
                    raise RuntimeError(f"the history of run {execution['runId']} has a gap "
                                       "between GetWorkflowExecutionHistory's events and "
                                       "the decision task's")
            self.count_cache(outcome)
        self.cache.put(run, events, view or RunView())
        return events

    def fetch_history(self, execution: dict[str, str], through: int) -> list[dict[str, Any]]:
        """The run's events from the first, every page up to event ``through``."""
        events: list[dict[str, Any]] = []
        params = {"domain": self.settings.domain, "execution": dict(execution)}
        token = None
        for _ in range(100_000):
            page = call(self.client, "GetWorkflowExecutionHistory",
                        deadline=time.monotonic() + 60, **params,
                        **({"nextPageToken": token} if token else {}))
            events.extend(page.get("events", []) if page else [])
            token = page.get("nextPageToken") if page else None
            if not token or (events and events[-1]["eventId"] >= through):
                break
        return events

    def count_cache(self, outcome: str) -> None:
        """A decision of a run already begun: found in the cache, or fetched whole."""
        assert self.cache is not None
        if outcome == "hit":
            self.cache.hits += 1
        else:
            self.cache.misses += 1
        metrics.history_cache(self.pool.section, outcome)
        self.board.update(cache_hits=self.cache.hits, cache_misses=self.cache.misses)

    def forget_if_closed(self, task: DecisionTask, decisions: list[dict[str, Any]]) -> None:
        """An accepted answer that closes the run: its events are no longer needed."""
        if self.cache is not None and history_cache.closes_the_run(decisions):
            execution = task.workflow_execution
            self.cache.drop((execution["workflowId"], execution["runId"]))

    def handle(self, polled: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
        response, events = polled
        kind = response["workflowType"]
        definition = self.registry.workflow(kind["name"], kind["version"])
        view = None
        if self.cache is not None:
            execution = response["workflowExecution"]
            view = self.cache.view((execution["workflowId"], execution["runId"]))
        task = DecisionTask(response, events, definition, view)
        extra = task.log_context
        self.observe_schedule_to_start(task)
        if definition is None:
            log.error("no plugin registered workflow type %s %s: decision task not answered "
                      "(it will time out and go to a decider that knows it); this decider "
                      "has %s", kind["name"], kind["version"], self.registry.describe(),
                      extra=extra)
            self.count(task, "not_answered")
            return
        self.show_task(f"{kind['name']}/{kind['version']}", extra)
        try:
            decisions = self.decide(task, definition)
        except Exception as exc:  # noqa: BLE001 - decision errors become marker + retry timer
            self.note_error(exc, extra)
            metrics.decider_error(self.pool.section, kind["name"], kind["version"])
            self.answer_error(task, exc, traceback.format_exc())
            self.count(task, "failed")
            return
        try:
            call(self.client, "RespondDecisionTaskCompleted",
                 deadline=time.monotonic() + self.respond_retry_time(task),
                 log_context=task.log_context,
                 taskToken=task.task_token, decisions=decisions)
        except Exception as exc:  # noqa: BLE001 - logged; a refused batch is a decision error
            if error_code(exc) in _REFUSED_DECISIONS:
                # SWF's message quotes the refused values (payloads): the log gets it
                # without them; the marker, in the history with the payloads, gets it whole.
                metrics.decider_error(self.pool.section, kind["name"], kind["version"])
                self.answer_error(task, DecisionsRefused(without_values(str(exc))),
                                  f"SWF refused the decisions: {exc}")
                self.count(task, "failed")
            else:
                self.count(task, "timed_out_on_answer" if error_code(exc) ==
                           "UnknownResourceFault" else "answer_failed")
                log.error("RespondDecisionTaskCompleted failed (%s: %s); the decision task "
                          "will time out", error_code(exc), without_values(str(exc)),
                          extra=extra)
            return
        self.forget_if_closed(task, decisions)
        log.info("workflow %s %s: %d decision(s)", kind["name"], kind["version"],
                 len(decisions), extra=extra)
        self.count(task, "completed")

    def count(self, task: DecisionTask, outcome: str) -> None:
        kind = task.workflow_type
        metrics.task(self.pool.section, "decider", kind.get("name", ""),
                     kind.get("version", ""), outcome, time.monotonic() - task.received)

    def observe_schedule_to_start(self, task: DecisionTask) -> None:
        """From DecisionTaskScheduled to now: the activity polls carry no such time."""
        if not metrics.enabled():
            return
        before = task.started_event_id or 1 << 62
        scheduled = next((e for e in reversed(task.raw_events) if e["eventType"] ==
                          "DecisionTaskScheduled" and e["eventId"] < before), None)
        stamp = scheduled.get("eventTimestamp") if scheduled else None
        if hasattr(stamp, "timestamp"):
            metrics.schedule_to_start(self.pool.section, time.time() - stamp.timestamp())

    def respond_retry_time(self, task: DecisionTask) -> float:
        """How long the answer is retried: until the workflow's declared decision task
        timeout would close the task anyway, or the pool's ``respond_timeout``."""
        declared = seconds_or_none(task.definition.task_start_to_close_timeout) if (
            task.definition) else None
        if declared is None:
            return self.pool.respond_timeout
        return max(MIN_RESPOND_RETRY, declared - (time.monotonic() - task.received))

    def decide(self, task: DecisionTask, definition: WorkflowDef) -> list[dict[str, Any]]:
        """Run the handler and turn what it returns into the ``decisions=`` list."""
        with logs.task_scope(task.log_context):
            returned = definition.func(task)
        if returned is None:
            data: list[dict[str, Any]] = []
        elif hasattr(returned, "data") and hasattr(returned, "validate"):
            returned.validate()
            data = list(returned.data)
        elif isinstance(returned, (list, tuple)):
            data = [dict(d) for d in returned]
        else:
            raise TypeError(
                f"workflow {definition.name} {definition.version} returned "
                f"{type(returned).__name__}; expected swfd.Decisions, a list of decisions or None"
            )
        for decision in data:
            for key, attrs in decision.items():
                if key.endswith("DecisionAttributes") and isinstance(attrs, dict):
                    for name in _PAYLOAD_FIELDS:
                        if name in attrs:
                            attrs[name] = codecs.encode_field(
                                definition.codec, attrs[name], f"{key}.{name}"
                            )
        cancels = [{"decisionType": "CancelTimer", "cancelTimerDecisionAttributes":
                    {"timerId": timer_id}} for timer_id in task.open_retry_timers]
        return cancels + data

    def answer_error(self, task: DecisionTask, exc: BaseException, details: str) -> None:
        """Record the failure as a marker and retry after a backoff timer (or fail the run).

        An execution input that cannot be decoded will not decode on a retry: the marker
        is recorded and no timer started, so the execution waits for a new event (a
        signal, say) instead of looping; ``decider_max_attempts`` fails it instead.
        The log names the exception's type only: its message may quote a payload,
        and the whole of it is in the marker, in the history, beside the payloads.
        """
        extra = task.log_context
        attempt = task.attempt
        error = f"{type(exc).__name__}: {exc}"
        shown = str(exc) if isinstance(exc, DecisionsRefused) else type(exc).__name__
        limit = self.pool.decider_max_attempts
        give_up = limit is not None and attempt >= limit
        marker = _error_marker(attempt, error, details)
        decisions: list[dict[str, Any]] = [{
            "decisionType": "RecordMarker",
            "recordMarkerDecisionAttributes": {"markerName": ERROR_MARKER, "details": marker},
        }]
        if give_up:
            log.error("decision logic failed (attempt %d of %d): %s; failing the workflow",
                      attempt, limit, shown, extra=extra)
            decisions.append({
                "decisionType": "FailWorkflowExecution",
                "failWorkflowExecutionDecisionAttributes": {
                    "reason": truncate(sendable(
                        f"swfd: decision logic failed {attempt} times: {error}"), MAX_REASON),
                    "details": truncate(sendable(details), MAX_DETAILS, keep="tail"),
                },
            })
        elif task.input_undecodable:
            log.error("the execution's input cannot be decoded (%s, codec %r); recorded in a "
                      "%s marker, not retried until a new event arrives", shown,
                      task.definition.codec if task.definition else "raw", ERROR_MARKER,
                      extra=extra)
        else:
            delay = backoff(attempt)
            log.error("decision logic failed (attempt %d): %s; retrying in %d s", attempt,
                      shown, delay, extra=extra)
            decisions.append({
                "decisionType": "StartTimer",
                "startTimerDecisionAttributes": {
                    "timerId": RETRY_TIMER.format(n=task.errors_total + 1),
                    "startToFireTimeout": str(delay),
                },
            })
        try:
            call(self.client, "RespondDecisionTaskCompleted",
                 deadline=time.monotonic() + self.respond_retry_time(task),
                 log_context=task.log_context,
                 taskToken=task.task_token, decisions=decisions)
            self.forget_if_closed(task, decisions)
        except Exception as respond_error:  # noqa: BLE001 - nothing more can be done here
            log.error("could not record the decision error (%s: %s); the decision task will "
                      "time out and be retried", error_code(respond_error),
                      without_values(str(respond_error)), extra=extra)
