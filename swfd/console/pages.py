"""The console's HTML, rendered on the server with the standard library.

Every value that comes from SWF (ids, names, payloads, reasons) or from the
request is untrusted: it reaches the page only through ``escape`` (text and
attribute values alike) or ``urlencode``. No inline script or style: the
Content-Security-Policy forbids both, and the page works without JavaScript.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from html import escape
from typing import Any
from urllib.parse import urlencode

from swfd.admin import event_attributes, summarize_event
from swfd.console import svg, timeline
from swfd.console.data import Execution, Filters, Listing
from swfd.console.events import FAMILIES, EventPage, View, page_of
from swfd.swf.models import CLOSED, OPEN

CLOSE_STATUSES = ("COMPLETED", "FAILED", "CANCELED", "TERMINATED", "CONTINUED_AS_NEW",
                  "TIMED_OUT")


def when(value: Any) -> str:
    """A timestamp in UTC, to the millisecond; empty when absent."""
    if value is None or value == "":
        return ""
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(float(value), tz=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _link(path: str, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return escape(f"{path}?{query}" if query else path)


def execution_link(workflow_id: str, run_id: str) -> str:
    return _link("/execution", workflowId=workflow_id, runId=run_id)


class Page:
    """What every page shares: the header (domain, endpoint, mode) and the CSRF token."""

    def __init__(self, domain: str, endpoint: str, allow_actions: bool, csrf: str = ""):
        self.domain = domain
        self.endpoint = endpoint
        self.allow_actions = allow_actions
        self.csrf = csrf

    def document(self, title: str, body: str) -> str:
        mode = ("actions enabled (--allow-actions)" if self.allow_actions else "read-only")
        return (
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)} · swfd console</title>"
            "<link rel=\"stylesheet\" href=\"/static/console.css\">"
            "<script src=\"/static/console.js\" defer></script></head><body>"
            "<header><a class=\"home\" href=\"/\">swfd console</a>"
            f"<span class=\"domain\">domain <b>{escape(self.domain)}</b></span>"
            f"<span class=\"endpoint\">{escape(self.endpoint)}</span>"
            f"<span class=\"mode {'actions' if self.allow_actions else 'read-only'}\">"
            f"{escape(mode)}</span></header>"
            f"<main>{body}</main></body></html>\n"
        )

    def hidden_csrf(self) -> str:
        return f'<input type="hidden" name="csrf" value="{escape(self.csrf)}">'

    # -- pages -----------------------------------------------------------------

    def error(self, title: str, message: str, status: int) -> str:
        body = (f"<h1>{escape(title)}</h1><p class=\"error\" data-status=\"{status}\">"
                f"{escape(message)}</p><p><a href=\"/\">Back to the executions</a></p>")
        return self.document(title, body)

    def executions(self, filters: Filters, listing: Listing, token: str | None,
                   page_size: int) -> str:
        return self.document("Executions", "".join([
            "<h1>Workflow executions</h1>",
            _tabs(filters),
            _filter_form(filters, page_size),
            _filter_notice(listing, page_size),
            _executions_table(filters, listing),
            _pager(filters, listing, token, page_size),
        ]))

    def execution(self, run: Execution, view: View, now: float, notice: str = "") -> str:
        info = run.info
        ids = info.get("execution", {})
        workflow_id, run_id = ids.get("workflowId", ""), ids.get("runId", "")
        line = timeline.build(run.events, now=None if not run.is_open else now)
        events = page_of(run.events, view.size, view.event, view.families)
        on_page = events.row_ids

        def bar_link(event_id: int) -> str:
            """A bar leads to its event's row: on this page, or on the page holding it."""
            if event_id in on_page:
                return svg.anchor_link(event_id)
            return view.link(svg.anchor_link(event_id), event=event_id, families=())

        view = replace(view, lanes_from=svg.first_lane(line, view.lanes_from))
        drawn = svg.render(line, *view.window, lanes_from=view.lanes_from, link=bar_link)
        parts = [
            f"<p class=\"crumbs\"><a href=\"/\">Executions</a> › {escape(workflow_id)}</p>",
            f"<h1>{escape(workflow_id)} <small>run {escape(run_id)}</small></h1>",
            f"<p class=\"notice\" role=\"status\">{escape(notice)}</p>" if notice else "",
            _summary(run),
            _payloads(run.events),
        ]
        if run.is_open:  # console.js shows it: reload every few seconds while it runs
            parts.append("<label class=\"follow\" hidden><input type=\"checkbox\" "
                         "id=\"follow\"> Follow: refresh every 5 s while it runs</label>")
        if self.allow_actions and run.is_open:
            parts.append(self.actions(workflow_id, run_id))
        parts += [
            "<section class=\"timeline-section\"><h2>Timeline</h2>",
            _zoom_links(view, line),
            _lane_pager(view, line),
            f"<div class=\"timeline-box\">{drawn}</div>",
            _legend(), "</section>",
            _events_section(view, events),
        ]
        return self.document(f"{workflow_id} {run_id}", "".join(parts))

    def actions(self, workflow_id: str, run_id: str) -> str:
        """Signal, cancel and terminate: each form POSTs, and the server asks to confirm."""
        ids = (f'<input type="hidden" name="workflowId" value="{escape(workflow_id)}">'
               f'<input type="hidden" name="runId" value="{escape(run_id)}">' + self.hidden_csrf())
        return (
            "<section class=\"actions\"><h2>Actions</h2>"
            f"<form method=\"post\" action=\"/action/signal\" class=\"action signal\">{ids}"
            "<label>Signal name <input name=\"signalName\" required maxlength=\"256\"></label>"
            "<label>Input <textarea name=\"input\" rows=\"2\" maxlength=\"32768\"></textarea>"
            "</label><button type=\"submit\">Signal…</button></form>"
            f"<form method=\"post\" action=\"/action/cancel\" class=\"action cancel\">{ids}"
            "<button type=\"submit\">Request cancel…</button></form>"
            f"<form method=\"post\" action=\"/action/terminate\" class=\"action terminate\">{ids}"
            "<label>Reason <input name=\"reason\" maxlength=\"256\"></label>"
            "<button type=\"submit\" class=\"danger\">Terminate…</button></form></section>"
        )

    def confirm(self, action: str, fields: dict[str, str]) -> str:
        """The confirmation step: the same POST again, with ``confirmed=yes``."""
        workflow_id, run_id = fields.get("workflowId", ""), fields.get("runId", "")
        what = {"signal": f"Send the signal {fields.get('signalName', '')!r} to",
                "cancel": "Request the cancellation of",
                "terminate": "Terminate"}[action]
        hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                         for k, v in fields.items() if k not in ("csrf", "confirmed"))
        details = ""
        if action == "signal" and fields.get("input"):
            details = f"<p>with the input</p>{_payload(fields['input'])}"
        if action == "terminate":
            details = f"<p>reason: {escape(fields.get('reason') or '(none)')}</p>"
        body = (
            f"<h1>Confirm: {escape(action)}</h1>"
            f"<p class=\"confirm-question\">{escape(what)} workflow <b>{escape(workflow_id)}</b>"
            f" run <b>{escape(run_id)}</b>?</p>{details}"
            f"<form method=\"post\" action=\"/action/{escape(action)}\" class=\"confirm\">"
            f"{hidden}{self.hidden_csrf()}<input type=\"hidden\" name=\"confirmed\" value=\"yes\">"
            f"<button type=\"submit\" class=\"danger\" id=\"confirm\">Yes, {escape(action)}</button>"
            f" <a href=\"{execution_link(workflow_id, run_id)}\" id=\"back\">No, go back</a></form>"
        )
        return self.document(f"Confirm {action}", body)


# -- the executions page ----------------------------------------------------------


def _query(filters: Filters, **extra: Any) -> dict[str, Any]:
    return {
        "state": filters.state.lower(), "workflowId": filters.workflow_id,
        "type": filters.type_name, "version": filters.type_version, "tag": filters.tag,
        "closeStatus": filters.close_status if filters.state == CLOSED else None,
        "startedAfter": _form_time(filters.oldest), "startedBefore": _form_time(filters.latest),
        **extra,
    }


def _form_time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S") if value else None


def _tabs(filters: Filters) -> str:
    tabs = []
    for state, label in ((OPEN, "Open"), (CLOSED, "Closed")):
        query = _query(filters, state=state.lower())
        current = ' aria-current="page" class="current"' if filters.state == state else ""
        tabs.append(f"<a href=\"{_link('/', **query)}\"{current}>{label}</a>")
    return f"<nav class=\"tabs\">{''.join(tabs)}</nav>"


def _input(name: str, label: str, value: str | None, kind: str = "text") -> str:
    step = ' step="1"' if kind != "text" else ""
    return (f"<label>{escape(label)} <input type=\"{kind}\" name=\"{name}\" "
            f"value=\"{escape(value or '')}\"{step}></label>")


def _filter_form(filters: Filters, page_size: int) -> str:
    statuses = "".join(
        f"<option{' selected' if filters.close_status == s else ''}>{s}</option>"
        for s in CLOSE_STATUSES)
    close = ""
    if filters.state == CLOSED:
        close = (f"<label>Close status <select name=\"closeStatus\"><option value=\"\">any"
                 f"</option>{statuses}</select></label>")
    return (
        "<form method=\"get\" action=\"/\" class=\"filters\">"
        f"<input type=\"hidden\" name=\"state\" value=\"{escape(filters.state.lower())}\">"
        + _input("workflowId", "Workflow id", filters.workflow_id)
        + _input("type", "Type", filters.type_name)
        + _input("version", "Version", filters.type_version)
        + _input("tag", "Tag", filters.tag)
        + close
        + _input("startedAfter", "Started after (UTC)", _form_time(filters.oldest),
                 "datetime-local")
        + _input("startedBefore", "Started before (UTC)", _form_time(filters.latest),
                 "datetime-local")
        + f"<input type=\"hidden\" name=\"size\" value=\"{page_size}\">"
        "<button type=\"submit\">Filter</button>"
        f" <a href=\"{_link('/', state=filters.state.lower())}\">Clear</a></form>"
    )


def _filter_notice(listing: Listing, page_size: int) -> str:
    if not listing.by_console:
        if listing.by_swf:
            return (f"<p class=\"filter-notice\">Filtered by SWF: "
                    f"{escape(', '.join(listing.by_swf))}.</p>")
        return ""
    text = (f"SWF takes one filter per listing: it applied {', '.join(listing.by_swf) or 'none'}"
            f"; this console applied {', '.join(listing.by_console)} over "
            f"{listing.scanned_pages} of SWF's pages, so a page may hold fewer than "
            f"{page_size} executions and Next continues the scan.")
    if listing.hit_scan_bound:
        text += " It stopped at its bound of pages scanned for one page."
    return f"<p class=\"filter-notice client-side\">{escape(text)}</p>"


def _duration(info: dict[str, Any]) -> str:
    start, close = info.get("startTimestamp"), info.get("closeTimestamp")
    if not isinstance(start, datetime):
        return ""
    end = close if isinstance(close, datetime) else datetime.now(timezone.utc)
    return svg.duration_text((end - start).total_seconds())


def _executions_table(filters: Filters, listing: Listing) -> str:
    if not listing.infos:
        return "<p class=\"empty\">No executions match.</p>"
    rows = []
    for info in listing.infos:
        ids = info.get("execution", {})
        wtype = info.get("workflowType", {})
        status = info.get("closeStatus") or info.get("executionStatus", "")
        tags = ", ".join(info.get("tagList", []))
        rows.append(
            f"<tr class=\"execution\" data-workflow-id=\"{escape(ids.get('workflowId', ''))}\" "
            f"data-run-id=\"{escape(ids.get('runId', ''))}\" data-status=\"{escape(status)}\">"
            f"<td><a href=\"{execution_link(ids.get('workflowId', ''), ids.get('runId', ''))}\">"
            f"{escape(ids.get('workflowId', ''))}</a></td>"
            f"<td class=\"run-id\">{escape(ids.get('runId', ''))}</td>"
            f"<td>{escape(wtype.get('name', ''))} <small>{escape(wtype.get('version', ''))}"
            f"</small></td><td><span class=\"status {escape(status.lower())}\">"
            f"{escape(status)}</span>{' (cancel requested)' if info.get('cancelRequested') else ''}"
            f"</td><td>{escape(when(info.get('startTimestamp')))}</td>"
            f"<td>{escape(when(info.get('closeTimestamp')))}</td>"
            f"<td>{escape(_duration(info))}</td><td>{escape(tags)}</td></tr>")
    return ("<table class=\"executions\"><thead><tr><th>Workflow id</th><th>Run id</th>"
            "<th>Type</th><th>Status</th><th>Started</th><th>Closed</th><th>Duration</th>"
            f"<th>Tags</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _pager(filters: Filters, listing: Listing, token: str | None, page_size: int) -> str:
    links = []
    if token:
        links.append(f"<a href=\"{_link('/', **_query(filters, size=page_size))}\" "
                     "class=\"first\">« First page</a>")
    if listing.next_token:
        links.append(f"<a href=\"{_link('/', **_query(filters, size=page_size, next=listing.next_token))}\" "
                     "class=\"next\" rel=\"next\">Next page »</a>")
    return f"<nav class=\"pager\">{' '.join(links)}</nav>" if links else ""


# -- the execution page -----------------------------------------------------------


def _summary(run: Execution) -> str:
    info, config = run.info, run.configuration
    wtype = info.get("workflowType", {})
    status = info.get("closeStatus") or info.get("executionStatus", "")
    parent = info.get("parent")
    rows = [
        ("Type", f"{wtype.get('name', '')} {wtype.get('version', '')}"),
        ("Status", status + (" (cancel requested)" if info.get("cancelRequested") else "")),
        ("Started", when(info.get("startTimestamp"))),
        ("Closed", when(info.get("closeTimestamp"))),
        ("Duration", _duration(info)),
        ("Task list", (config.get("taskList") or {}).get("name", "")),
        ("Tags", ", ".join(info.get("tagList", []))),
        ("Child policy", config.get("childPolicy", "")),
        ("Timeouts", (f"execution {config.get('executionStartToCloseTimeout', '?')}s, "
                     f"decision task {config.get('taskStartToCloseTimeout', '?')}s")),
        ("Open", ", ".join(f"{k} {v}" for k, v in run.open_counts.items() if v)
         if run.is_open else ""),
        ("Events", str(len(run.events))),
    ]
    body = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in rows if v)
    close = next((e for e in reversed(run.events)
                  if e.get("eventType") == "WorkflowExecutionContinuedAsNew"), None)
    if close is not None:
        new_run = event_attributes(close).get("newExecutionRunId", "")
        workflow_id = info.get("execution", {}).get("workflowId", "")
        body += (f"<dt>Continued as</dt><dd><a href=\"{execution_link(workflow_id, new_run)}\">"
                 f"run {escape(new_run)}</a></dd>")
    if parent:
        body += (f"<dt>Parent</dt><dd><a href=\"{execution_link(parent['workflowId'], parent['runId'])}\">"
                 f"{escape(parent['workflowId'])}</a></dd>")
    return f"<dl class=\"summary\" data-status=\"{escape(status)}\">{body}</dl>"


def _payload(value: Any) -> str:
    """A payload or attribute value: JSON pretty-printed when it is JSON, else as is."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("{", "[", '"') or stripped in ("true", "false", "null"):
            try:
                return (f"<pre class=\"payload json\">"
                        f"{escape(json.dumps(json.loads(stripped), indent=2, ensure_ascii=False))}"
                        "</pre>")
            except ValueError:
                pass
        return f"<pre class=\"payload\">{escape(value)}</pre>"
    if isinstance(value, (dict, list)):
        return (f"<pre class=\"payload json\">"
                f"{escape(json.dumps(value, indent=2, default=when, ensure_ascii=False))}</pre>")
    if isinstance(value, datetime):
        return escape(when(value))
    return escape(str(value))


_CLOSE_EVENTS = ("WorkflowExecutionCompleted", "WorkflowExecutionFailed",
                 "WorkflowExecutionTimedOut", "WorkflowExecutionCanceled",
                 "WorkflowExecutionTerminated", "WorkflowExecutionContinuedAsNew")


def _payloads(events: list[dict[str, Any]]) -> str:
    """The execution's input and, once closed, its result (or why it did not complete)."""
    parts = []
    if events and events[0].get("eventType") == "WorkflowExecutionStarted":
        value = event_attributes(events[0]).get("input")
        parts.append("<h2>Input</h2>" + (_payload(value) if value is not None
                                         else "<p class=\"none\">(none)</p>"))
    close = next((e for e in reversed(events) if e.get("eventType") in _CLOSE_EVENTS), None)
    if close is not None:
        attrs = event_attributes(close)
        title = {"WorkflowExecutionCompleted": "Result"}.get(close["eventType"],
                                                             close["eventType"][17:])
        shown = {k: v for k, v in attrs.items() if k != "decisionTaskCompletedEventId"}
        if close["eventType"] == "WorkflowExecutionCompleted":
            inner = (_payload(shown["result"]) if "result" in shown
                     else "<p class=\"none\">(none)</p>")
        else:
            inner = "<dl class=\"attributes\">" + "".join(
                f"<dt>{escape(k)}</dt><dd>{_payload(v)}</dd>" for k, v in shown.items()) + "</dl>"
        parts.append(f"<h2>{escape(title)}</h2><div class=\"close\">{inner}</div>")
    return f"<section class=\"payloads\">{''.join(parts)}</section>"


def _zoom_links(view: View, line: timeline.Timeline) -> str:
    """Zoom without JavaScript: links that halve, double or reset the shown window."""
    low = view.window[0] or 0.0
    high = line.span if view.window[1] is None else min(view.window[1], line.span)
    middle, half = (low + high) / 2, max(high - low, 0.002) / 2

    def link(text: str, css: str, start: float | None, end: float | None) -> str:
        window = (None, None) if start is None else (max(start, 0.0), end)
        href = view.link("#timeline", window=window)
        return f"<a class=\"zoom {css}\" href=\"{escape(href)}\">{text}</a>"

    return (
        "<nav class=\"zoom-controls\">"
        + link("Zoom in", "in", middle - half / 2, middle + half / 2) + " "
        + link("Zoom out", "out", middle - half * 2, middle + half * 2) + " "
        + link("← Earlier", "left", low - half, high - half) + " "
        + link("Later →", "right", low + half, high + half) + " "
        + link("Whole run", "reset", None, None)
        + f" <span class=\"window\">showing +{svg.duration_text(low)} to "
        f"+{svg.duration_text(high)} of {svg.duration_text(line.span)}</span></nav>"
    )


def _pager_links(css: str, targets: list[tuple[str, str, str | None]]) -> str:
    """First / previous / next / last: a link where there is somewhere to go, else a
    greyed word (so the bar does not jump about from page to page)."""
    out = []
    for text, kind, href in targets:
        if href is None:
            out.append(f"<span class=\"{css}-{kind} disabled\">{text}</span>")
        else:
            out.append(f"<a class=\"{css}-{kind}\" href=\"{escape(href)}\">{text}</a>")
    return " ".join(out)


def _lane_pager(view: View, line: timeline.Timeline) -> str:
    """More lanes than one drawing holds: which are shown, and links to the others."""
    count = len(line.lanes)
    if count <= svg.MAX_LANES:
        return ""
    step, start = svg.MAX_LANES, view.lanes_from
    last = svg.first_lane(line, count)

    def to(index: int) -> str | None:
        return None if index == start or not 0 <= index < count else view.link(
            "#timeline", lanes_from=index)

    shown = f"lanes {start + 1:,}–{min(start + step, count):,} of {count:,}"
    return ("<nav class=\"lane-pager\">" + _pager_links("lanes", [
        ("« First lanes", "first", to(0)), ("‹ Earlier lanes", "previous", to(max(start - step, 0))),
        ]) + f" <span class=\"lane-range\">{shown}</span> " + _pager_links("lanes", [
        ("More lanes ›", "next", to(start + step)), ("Last lanes »", "last", to(last))])
        + " <span class=\"hint\">(the rows above the lanes sum up every lane of a type)"
        "</span></nav>")


def _legend() -> str:
    items = [("run completed", "run"), ("waiting (scheduled, not started)", "wait"),
             ("failed", "failed"), ("timed out", "timed_out"), ("canceled", "canceled"),
             ("still open", "open"), ("decision task", "tick"), ("signal / marker", "mark")]
    return ("<ul class=\"legend\">" + "".join(
        f"<li><span class=\"swatch {css}\"></span>{escape(text)}</li>" for text, css in items)
        + "</ul>")


def _event_rows(events: list[dict[str, Any]], start: float, landed: int | None) -> str:
    rows = []
    for event in events:
        attrs = event_attributes(event)
        at = timeline.seconds(event["eventTimestamp"])
        details = "".join(f"<dt>{escape(k)}</dt><dd>{_payload(v)}</dd>" for k, v in attrs.items())
        kind = event.get("eventType", "")
        number = int(event.get("eventId", 0))
        css = "event landed" if number == landed else "event"
        rows.append(
            f"<tr class=\"{css}\" id=\"event-{number}\" "
            f"data-event-type=\"{escape(kind)}\"><td>{number}</td>"
            f"<td title=\"{escape(when(event['eventTimestamp']))}\">+{svg.duration_text(at - start)}"
            f"</td><td class=\"event-type\">{escape(kind)}</td><td>"
            f"<details><summary>{escape(summarize_event(event, 120)) or '(no attributes)'}</summary>"
            f"<dl class=\"attributes\">{details}</dl></details></td></tr>")
    return "".join(rows)


def _hidden_view(view: View, *drop: str) -> str:
    """The view's query as hidden inputs (but ``drop``), for the events' GET forms."""
    return "".join(f"<input type=\"hidden\" name=\"{escape(k)}\" value=\"{escape(str(v))}\">"
                   for k, v in view.query().items() if k not in drop)


def _event_forms(view: View, page: EventPage) -> str:
    """Filter by family, and jump to an event id (the server redirects to its row, on
    the unfiltered events, so the row is there)."""
    boxes = "".join(
        f"<label><input type=\"checkbox\" name=\"family\" value=\"{name}\""
        f"{' checked' if name in page.families else ''}> {name}</label>" for name in FAMILIES)
    clear = (f" <a class=\"all-events\" href=\"{escape(view.link('#events', families=(), event=None))}\">"
             "all events</a>" if page.families else "")
    return (
        "<form method=\"get\" action=\"/execution#events\" class=\"event-filter\">"
        f"{_hidden_view(view, 'family', 'event')}<span>Only</span> {boxes}"
        f"<button type=\"submit\">Show</button>{clear}</form>"
        "<form method=\"get\" action=\"/execution\" class=\"jump\">"
        f"{_hidden_view(view, 'event', 'family')}<label>Jump to event id <input type=\"number\" "
        f"name=\"jump\" min=\"1\" step=\"1\" required></label>"
        "<button type=\"submit\">Go</button></form>"
    )


def _event_pager(view: View, page: EventPage) -> str:
    """Where this page is in the events, and first / previous / next / last."""
    def to(index: int) -> str | None:
        first = page.first_id_of(index)
        return None if first is None or index == page.index else view.link(
            "#events", event=first)

    if page.rows:
        low, high = page.index + 1, page.index + len(page.rows)
        first_id, last_id = (int(page.rows[0].get("eventId", 0)),
                             int(page.rows[-1].get("eventId", 0)))
        text = f"events {first_id:,}–{last_id:,} of {page.total:,}"
        if page.families:
            text = (f"{', '.join(page.families)} events {low:,}–{high:,} of "
                    f"{page.selected:,} (ids {first_id:,}–{last_id:,}; {page.total:,} in all)")
    else:
        text = f"no {', '.join(page.families)} events (of {page.total:,})"
    return (
        f"<nav class=\"event-pager\" data-index=\"{page.index}\" data-size=\"{page.size}\" "
        f"data-selected=\"{page.selected}\" data-total=\"{page.total}\">"
        + _pager_links("events", [("« First", "first", to(0)),
                                  ("‹ Previous", "previous", to(page.index - page.size))])
        + f" <span class=\"event-range\">{escape(text)}</span> "
        + _pager_links("events", [("Next ›", "next", to(page.index + page.size)),
                                  ("Last »", "last", to(page.last_index))])
        + "</nav>"
    )


def _events_section(view: View, page: EventPage) -> str:
    pager = _event_pager(view, page)
    return ("<section class=\"events\" id=\"events\"><h2>Events</h2>"
            + _event_forms(view, page) + pager
            + "<p><a href=\"#\" class=\"expand-all\" hidden>Expand all</a></p>"
            "<table class=\"events\"><thead><tr><th>Id</th><th>Time</th><th>Type</th>"
            f"<th>Attributes</th></tr></thead><tbody>{_event_rows(page.rows, page.start, view.event)}"
            f"</tbody></table>{pager}</section>")
