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

Big histories (SWF allows 25,000 events) stay drawable because what is drawn is
bounded, whatever the history: at most ``MAX_LANES`` lanes (the page says which
and links to the others), at most ``ATTEMPT_BUDGET`` bars over those lanes, one
decision tick and one mark per ``THIN_PX`` pixels of the shown window, and, when
the lanes do not all fit, up to ``MAX_GROUPS`` summary rows (one per kind and
type: how many were in flight at each moment). The ``<svg>`` says what it left
out (``data-lanes``, ``data-ticks``, ``data-thinned``, a lane's ``data-drawn``).
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Callable, TypeVar
from urllib.parse import urlencode

from swfd.console.timeline import Attempt, Lane, Timeline

WIDTH = 1200
LABEL_WIDTH = 320
PLOT_WIDTH = WIDTH - LABEL_WIDTH - 10
AXIS_HEIGHT = 26
ROW = 22
BAR = 14
AXIS_STEPS = 5
MAX_LANES = 100       # lanes drawn at once; the page links to the others
ATTEMPT_BUDGET = 400  # bars drawn over those lanes, shared out lane by lane
THIN_PX = 3           # at most one decision tick (and one mark) per this many pixels
MAX_GROUPS = 8        # summary rows when the lanes do not all fit
BUCKETS = 200         # columns of a summary row

T = TypeVar("T")
EventLink = Callable[[int], str]


def anchor_link(event_id: int) -> str:
    """Where a bar leads by default: its event's row on the same page."""
    return f"#event-{event_id}"


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


def _attempt(timeline: Timeline, lane: Lane, attempt: Attempt, y: float,
             link: EventLink) -> str:
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
    parts.append(f'<a href="{escape(link(attempt.first_event_id))}">')  # to its event's row
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


def _spread(items: list[T], keep: int) -> list[T]:
    """``keep`` of ``items`` spread evenly, the first and the last among them."""
    if len(items) <= keep:
        return items
    if keep <= 1:
        return items[-1:]
    step = (len(items) - 1) / (keep - 1)
    return [items[round(i * step)] for i in range(keep)]


def _drawn_attempts(lane: Lane, quota: int) -> list[Attempt]:
    """A lane's bars within its share of the budget: the last attempt (the lane's
    outcome), then those that did not end well (what a user looks for), then the
    others, each spread evenly over the lane."""
    if len(lane.attempts) <= quota:
        return lane.attempts
    earlier = lane.attempts[:-1]
    bad = [a for a in earlier if a.outcome not in ("completed", "fired")]
    good = [a for a in earlier if a.outcome in ("completed", "fired")]
    room = quota - 1
    chosen = _spread(bad, room) + _spread(good, room - min(len(bad), room)) if room else []
    return sorted(chosen, key=lambda attempt: attempt.number) + [lane.attempts[-1]]


def _lane(timeline: Timeline, lane: Lane, y: float, link: EventLink, quota: int) -> str:
    classes = f"lane {lane.kind} {lane.outcome}" + (" retried" if lane.retried else "")
    drawn = _drawn_attempts(lane, quota)
    head = (f'<g class="{escape(classes)}" data-kind="{escape(lane.kind)}" '
            f'data-id="{escape(lane.id)}" data-name="{escape(lane.name)}" '
            f'data-attempts="{len(lane.attempts)}" data-drawn="{len(drawn)}" '
            f'data-outcome="{escape(lane.outcome)}">')
    body = "".join(_attempt(timeline, lane, attempt, y, link) for attempt in drawn)
    if lane.cancel_requested is not None:
        x = _ms(timeline, lane.cancel_requested)
        body += (f'<line class="cancel-mark" x1="{x:.3f}" x2="{x:.3f}" y1="{y:.1f}" '
                 f'y2="{y + ROW:.1f}" vector-effect="non-scaling-stroke"/>')
    return head + body + "</g>"


def _thin(items: list[T], at: Callable[[T], float], window: tuple[float, float],
          worse: Callable[[T], bool]) -> list[T]:
    """At most one item per ``THIN_PX`` pixels of the shown window (seconds since the
    start), preferring one that ended badly; items outside the window are left out.
    Few enough items are all kept, so a small history is drawn whole."""
    columns = PLOT_WIDTH // THIN_PX
    if len(items) <= columns:
        return items
    low, high = window
    width = (high - low) / columns
    kept: dict[int, T] = {}
    for item in items:
        column = int((at(item) - low) // width)
        if 0 <= column < columns and (column not in kept or worse(item)
                                      and not worse(kept[column])):
            kept[column] = item
    return [kept[column] for column in sorted(kept)]


def _decisions(timeline: Timeline, y: float, window: tuple[float, float]) -> str:
    def tick_at(tick) -> float:
        return (tick.started if tick.started is not None else tick.scheduled) - timeline.start

    ticks = _thin(timeline.ticks, tick_at, window, lambda tick: tick.outcome == "timed_out")
    marks = _thin(timeline.marks, lambda mark: mark.at - timeline.start, window,
                  lambda mark: mark.kind == "failure")
    parts = [(f'<g class="decisions" data-kind="decisions" data-ticks="{len(timeline.ticks)}" '
             f'data-ticks-drawn="{len(ticks)}" data-marks="{len(timeline.marks)}" '
             f'data-marks-drawn="{len(marks)}">')]
    for tick in ticks:
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
    for mark in marks:
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


def first_lane(timeline: Timeline, asked: int) -> int:
    """The first lane drawn when ``asked`` for: past the end, the last page of lanes."""
    last_page = max(len(timeline.lanes) - 1, 0) // MAX_LANES * MAX_LANES
    return min(max(asked, 0), last_page)


def lane_groups(timeline: Timeline) -> list[list[Lane]]:
    """The lanes by kind and type name, the biggest groups first (at most ``MAX_GROUPS``)."""
    groups: dict[tuple[str, str], list[Lane]] = {}
    for lane in timeline.lanes:
        groups.setdefault((lane.kind, lane.name), []).append(lane)
    return sorted(groups.values(), key=len, reverse=True)[:MAX_GROUPS]


def _in_flight(timeline: Timeline, lanes: Iterable[Lane],
               window: tuple[float, float]) -> list[int]:
    """How many of the lanes' attempts were waiting or running in each column of the
    window: +1 where an attempt begins, -1 after it ends, then a running sum."""
    low, high = window
    width = (high - low) / BUCKETS
    change = [0] * (BUCKETS + 1)
    for lane in lanes:
        for attempt in lane.attempts:
            begin = attempt.scheduled - timeline.start
            end = (timeline.end if attempt.closed is None else attempt.closed) - timeline.start
            if end < low or begin > high:
                continue
            first = max(0, int((begin - low) // width))
            last = min(BUCKETS - 1, int((end - low) // width))
            change[first] += 1
            change[last + 1] -= 1
    counts, running = [], 0
    for step in change[:BUCKETS]:
        running += step
        counts.append(running)
    return counts


def _group_row(timeline: Timeline, lanes: list[Lane], y: float,
               window: tuple[float, float]) -> str:
    counts = _in_flight(timeline, lanes, window)
    peak = max(counts) or 1
    outcomes = _outcomes(lanes)
    low, high = window
    width = (high - low) * 1000.0 / BUCKETS
    parts = [(f'<g class="group {escape(lanes[0].kind)}" data-kind="{escape(lanes[0].kind)}" '
             f'data-name="{escape(lanes[0].name)}" data-lanes="{len(lanes)}" '
             f'data-peak="{max(counts)}" data-outcomes="'
             f'{escape(" ".join(f"{k}:{v}" for k, v in sorted(outcomes.items())))}">')]
    for column, count in enumerate(counts):
        if count:
            height = (ROW - 4) * count / peak
            parts.append(f'<rect class="density" x="{low * 1000 + column * width:.3f}" '
                         f'y="{y + ROW - 2 - height:.1f}" width="{width:.3f}" '
                         f'height="{height:.1f}"><title>{count} in flight</title></rect>')
    parts.append("</g>")
    return "".join(parts)


def _outcomes(lanes: list[Lane]) -> dict[str, int]:
    """How many of the lanes ended each way (their last attempt's outcome)."""
    outcomes: dict[str, int] = {}
    for lane in lanes:
        outcomes[lane.outcome] = outcomes.get(lane.outcome, 0) + 1
    return outcomes


def _group_label(lanes: list[Lane]) -> str:
    outcomes = _outcomes(lanes)
    shown = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in
                      sorted(outcomes.items(), key=lambda item: -item[1]))
    return f"all {len(lanes):,} {lanes[0].kind} · {lanes[0].name}: {shown}"


def render(timeline: Timeline, start: float | None = None, end: float | None = None, *,
           lanes_from: int = 0, link: EventLink = anchor_link) -> str:
    """The timeline as an ``<svg>`` element, showing seconds ``start``..``end`` since the
    execution began (default: all of it), and the lanes from index ``lanes_from`` on (at
    most ``MAX_LANES``). ``link`` gives a bar's href from its first event's id."""
    low, high = _window(timeline, start, end)
    lanes = timeline.lanes[max(lanes_from, 0):max(lanes_from, 0) + MAX_LANES]
    groups = lane_groups(timeline) if len(timeline.lanes) > MAX_LANES else []
    quota = max(1, ATTEMPT_BUDGET // max(len(lanes), 1))
    first_lane_row = 1 + len(groups)
    rows = first_lane_row + len(lanes)
    height = AXIS_HEIGHT + rows * ROW + 4
    plot_height = rows * ROW
    drawn_lanes = [_lane(timeline, lane, (first_lane_row + index) * ROW, link, quota)
                   for index, lane in enumerate(lanes)]
    decisions = _decisions(timeline, 0, (low, high))
    thinned = (bool(groups) or len(lanes) < len(timeline.lanes)
               or any(len(lane.attempts) > quota for lane in lanes)
               or max(len(timeline.ticks), len(timeline.marks)) > PLOT_WIDTH // THIN_PX)
    out = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" id="timeline" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" height="{height:.0f}" '
        f'role="img" aria-label="timeline of the execution" '
        f'data-start="{_at(timeline.start)}" data-end="{_at(timeline.end)}" '
        f'data-from="{low:.3f}" data-to="{high:.3f}" data-closed="{str(timeline.closed).lower()}" '
        f'data-lanes="{len(timeline.lanes)}" data-lanes-from="{max(lanes_from, 0)}" '
        f'data-lanes-drawn="{len(lanes)}" data-thinned="{str(thinned).lower()}">'),
        _axis(low, high, height),
        _label("decisions & signals", AXIS_HEIGHT, "label workflow"),
    ]
    for index, group in enumerate(groups):
        out.append(_label(_group_label(group), AXIS_HEIGHT + (index + 1) * ROW, "label group"))
    for index, lane in enumerate(lanes):
        retries = f" ×{len(lane.attempts)}" if lane.retried else ""
        kind = "" if lane.kind == "activity" else f"{lane.kind} "
        href = None
        if lane.kind == "child" and lane.run_id:  # the child's own page
            href = "/execution?" + urlencode({"workflowId": lane.id, "runId": lane.run_id})
        out.append(_label(f"{kind}{lane.id} · {lane.name}{retries}",
                          AXIS_HEIGHT + (first_lane_row + index) * ROW, href=href))
    out.append(
        f'<svg class="plot" x="{LABEL_WIDTH}" y="{AXIS_HEIGHT}" width="{PLOT_WIDTH}" '
        f'height="{plot_height}" viewBox="{low * 1000:.3f} 0 {(high - low) * 1000:.3f} '
        f'{plot_height}" preserveAspectRatio="none" data-span="{timeline.span * 1000:.3f}">')
    out.append(decisions)
    for index, group in enumerate(groups):
        out.append(_group_row(timeline, group, (index + 1) * ROW, (low, high)))
    out += drawn_lanes
    out.append("</svg></svg>")
    return "".join(out)
