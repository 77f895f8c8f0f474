"""The timeline drawn as SVG on the server, so it shows without JavaScript.

Layout: a label column on the left, the plot on the right. The plot is a nested
``<svg class="plot">`` whose x axis is milliseconds since the execution started
and whose ``viewBox`` is the window shown (``preserveAspectRatio="none"``):
zooming is a change of that one attribute, done by the server from the
``from``/``to`` query parameters, or by ``console.js`` in the browser. Strokes
do not scale (``vector-effect``), so a decision task of a few milliseconds
still shows as a tick at any zoom.

Every lane is a ``<g class="lane">`` with ``data-kind``, ``data-id``,
``data-name``, ``data-attempts`` and ``data-outcome``; every attempt inside it a
``<g class="attempt">`` with ``data-attempt``, ``data-scheduled``,
``data-started``, ``data-closed`` (epoch seconds, empty while open) and
``data-outcome``: what the tests and any script read, rather than pixels. Ids
and names come from the history, i.e. from users: everything is escaped.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from swfd.console.timeline import Attempt, Lane, Timeline

WIDTH = 1200
LABEL_WIDTH = 320
PLOT_WIDTH = WIDTH - LABEL_WIDTH - 10
AXIS_HEIGHT = 26
ROW = 22
BAR = 14
AXIS_STEPS = 5


def _at(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _ms(timeline: Timeline, value: float) -> float:
    return round((value - timeline.start) * 1000.0, 3)


def duration_text(value: float) -> str:
    """``0.125s``, ``12.5s``, ``3m05s``, ``2h03m``: an axis label or a bar's length."""
    if value < 10:
        return f"{value:.3f}".rstrip("0").rstrip(".") + "s"
    if value < 60:
        return f"{value:.1f}s"
    if value < 3600:
        return f"{int(value // 60)}m{int(value % 60):02d}s"
    return f"{int(value // 3600)}h{int(value % 3600 // 60):02d}m"


def _window(timeline: Timeline, start: float | None, end: float | None) -> tuple[float, float]:
    """The shown window in seconds since the start, clamped to the execution."""
    low = max(0.0, start or 0.0)
    high = timeline.span if end is None else min(max(end, low + 0.001), timeline.span)
    if high <= low:
        low, high = 0.0, timeline.span
    return low, high


def _rect(css: str, x0: float, x1: float, y: float, height: float) -> str:
    return (f'<rect class="{css}" x="{x0:.3f}" y="{y:.1f}" width="{max(x1 - x0, 0.0):.3f}" '
            f'height="{height:.1f}" vector-effect="non-scaling-stroke"/>')


def _attempt(timeline: Timeline, lane: Lane, attempt: Attempt, y: float) -> str:
    end = timeline.end if attempt.closed is None else attempt.closed
    started = attempt.started
    parts = [
        (f'<g class="attempt {escape(attempt.outcome)}" data-attempt="{attempt.number}" '
        f'data-scheduled="{_at(attempt.scheduled)}" data-started="{_at(started)}" '
        f'data-closed="{_at(attempt.closed)}" data-outcome="{escape(attempt.outcome)}">')
    ]
    lines = [f"{lane.kind} {lane.id} ({lane.name}) attempt {attempt.number}: {attempt.outcome}"]
    if attempt.detail:
        lines.append(attempt.detail)
    if started is not None:
        lines.append(f"waited {duration_text(started - attempt.scheduled)}, "
                     f"ran {duration_text(end - started)}")
    else:
        lines.append(f"waited {duration_text(end - attempt.scheduled)}, never started")
    parts.append(f"<title>{escape(chr(10).join(lines))}</title>")
    wait_end = end if started is None else started
    parts.append(f'<a href="#event-{attempt.first_event_id}">')  # to its row in the events
    parts.append(_rect("wait", _ms(timeline, attempt.scheduled), _ms(timeline, wait_end),
                       y + (ROW - BAR) / 2 + 3, BAR - 6))
    if started is not None:
        parts.append(_rect("run", _ms(timeline, started), _ms(timeline, end),
                           y + (ROW - BAR) / 2, BAR))
    parts.append("</a>")
    if attempt.outcome not in ("open", "completed", "fired"):
        x = _ms(timeline, end)
        parts.append(f'<line class="end-mark" x1="{x:.3f}" x2="{x:.3f}" y1="{y + 2:.1f}" '
                     f'y2="{y + ROW - 2:.1f}" vector-effect="non-scaling-stroke"/>')
    parts.append("</g>")
    return "".join(parts)


def _lane(timeline: Timeline, lane: Lane, y: float) -> str:
    classes = f"lane {lane.kind} {lane.outcome}" + (" retried" if lane.retried else "")
    head = (f'<g class="{escape(classes)}" data-kind="{escape(lane.kind)}" '
            f'data-id="{escape(lane.id)}" data-name="{escape(lane.name)}" '
            f'data-attempts="{len(lane.attempts)}" data-outcome="{escape(lane.outcome)}">')
    body = "".join(_attempt(timeline, lane, attempt, y) for attempt in lane.attempts)
    if lane.cancel_requested is not None:
        x = _ms(timeline, lane.cancel_requested)
        body += (f'<line class="cancel-mark" x1="{x:.3f}" x2="{x:.3f}" y1="{y:.1f}" '
                 f'y2="{y + ROW:.1f}" vector-effect="non-scaling-stroke"/>')
    return head + body + "</g>"


def _decisions(timeline: Timeline, y: float) -> str:
    parts = ['<g class="decisions" data-kind="decisions">']
    for tick in timeline.ticks:
        at = tick.started if tick.started is not None else tick.scheduled
        x = _ms(timeline, at)
        parts.append(
            f'<line class="tick {escape(tick.outcome)}" x1="{x:.3f}" x2="{x:.3f}" '
            f'y1="{y + 3:.1f}" y2="{y + ROW - 3:.1f}" vector-effect="non-scaling-stroke" '
            f'data-scheduled="{_at(tick.scheduled)}" data-started="{_at(tick.started)}" '
            f'data-closed="{_at(tick.closed)}" data-outcome="{escape(tick.outcome)}">'
            f"<title>decision task {escape(tick.outcome)}"
            f"{' (event ' + str(tick.started_event_id) + ')' if tick.started_event_id else ''}"
            "</title></line>")
    for mark in timeline.marks:
        x = _ms(timeline, mark.at)
        parts.append(
            f'<line class="mark {escape(mark.kind)}" x1="{x:.3f}" x2="{x:.3f}" y1="{y:.1f}" '
            f'y2="{y + ROW:.1f}" vector-effect="non-scaling-stroke" data-at="{_at(mark.at)}" '
            f'data-kind="{escape(mark.kind)}"><title>{escape(mark.kind)}: '
            f"{escape(mark.label)} (event {mark.event_id})</title></line>")
    parts.append("</g>")
    return "".join(parts)


def _label(text: str, y: float, css: str = "label", href: str | None = None) -> str:
    shown = text if len(text) <= 46 else text[:45] + "…"
    label = (f'<text class="{css}" x="6" y="{y + ROW / 2 + 4:.1f}">{escape(shown)}'
             f"<title>{escape(text)}</title></text>")
    return f'<a href="{escape(href)}">{label}</a>' if href else label


def _axis(low: float, high: float, height: float) -> str:
    parts = ['<g class="axis">']
    for step in range(AXIS_STEPS + 1):
        fraction = step / AXIS_STEPS
        x = LABEL_WIDTH + fraction * PLOT_WIDTH
        anchor = "start" if step == 0 else "end" if step == AXIS_STEPS else "middle"
        parts.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{AXIS_HEIGHT - 6}" '
            f'y2="{height:.1f}"/><text class="axis-label" x="{x:.1f}" y="{AXIS_HEIGHT - 10}" '
            f'text-anchor="{anchor}" data-fraction="{fraction:g}">'
            f"+{duration_text(low + fraction * (high - low))}</text>")
    parts.append("</g>")
    return "".join(parts)


def render(timeline: Timeline, start: float | None = None, end: float | None = None) -> str:
    """The timeline as an ``<svg>`` element, showing seconds ``start``..``end`` since the
    execution began (default: all of it)."""
    low, high = _window(timeline, start, end)
    rows = 1 + len(timeline.lanes)
    height = AXIS_HEIGHT + rows * ROW + 4
    plot_height = rows * ROW
    out = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" id="timeline" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" height="{height:.0f}" '
        f'role="img" aria-label="timeline of the execution" '
        f'data-start="{_at(timeline.start)}" data-end="{_at(timeline.end)}" '
        f'data-from="{low:.3f}" data-to="{high:.3f}" data-closed="{str(timeline.closed).lower()}">'),
        _axis(low, high, height),
        _label("decisions & signals", AXIS_HEIGHT, "label workflow"),
    ]
    for index, lane in enumerate(timeline.lanes):
        retries = f" ×{len(lane.attempts)}" if lane.retried else ""
        kind = "" if lane.kind == "activity" else f"{lane.kind} "
        href = None
        if lane.kind == "child" and lane.run_id:  # the child's own page
            href = "/execution?" + urlencode({"workflowId": lane.id, "runId": lane.run_id})
        out.append(_label(f"{kind}{lane.id} · {lane.name}{retries}",
                          AXIS_HEIGHT + (index + 1) * ROW, href=href))
    out.append(
        f'<svg class="plot" x="{LABEL_WIDTH}" y="{AXIS_HEIGHT}" width="{PLOT_WIDTH}" '
        f'height="{plot_height}" viewBox="{low * 1000:.3f} 0 {(high - low) * 1000:.3f} '
        f'{plot_height}" preserveAspectRatio="none" data-span="{timeline.span * 1000:.3f}">')
    out.append(_decisions(timeline, 0))
    for index, lane in enumerate(timeline.lanes):
        out.append(_lane(timeline, lane, (index + 1) * ROW))
    out.append("</svg></svg>")
    return "".join(out)
