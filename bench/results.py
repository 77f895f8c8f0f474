"""The rows of RESULTS.md and the series of the plot, collected as figures are measured."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Row:
    figure: str           # "1. CPU per task"
    subject: str          # "swfd worker (1 process)"
    value: float | None   # None: not measured
    unit: str
    ratio: str = ""       # "1.05x raw loop"
    target: str = ""      # "<= 1.15x raw loop"
    met: bool | None = None
    note: str = ""


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    series: dict[str, Any] = field(default_factory=dict)  # for the plot
    log: Callable[[str], None] = print

    def add(self, figure: str, subject: str, value: float | None, unit: str, **kw: Any) -> Row:
        row = Row(figure, subject, value, unit, **kw)
        self.rows.append(row)
        shown = "not measured" if value is None else f"{value:.4g} {unit}"
        extra = f" ({row.ratio})" if row.ratio else ""
        self.log(f"  {figure} | {subject}: {shown}{extra}"
                 + ("" if row.met is None else f" target {'met' if row.met else 'NOT met'}")
                 + (f" - {row.note}" if row.note else ""))
        return row

    def missing(self, figure: str, subject: str, reason: str) -> Row:
        return self.add(figure, subject, None, "", note=f"not measured: {reason}")

    def guarded(self, figure: str, fn: Callable[[], None]) -> None:
        """Run one figure; an error becomes a 'not measured' row instead of a crash."""
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the rest of the run still matters
            self.log(traceback.format_exc())
            self.missing(figure, "(all)", f"{type(exc).__name__}: {exc}"[:300])


def ratio(value: float | None, base: float | None, name: str) -> tuple[float | None, str]:
    if not value or not base:
        return None, ""
    r = value / base
    return r, (f"{r:.2f}x {name}" if r >= 0.1 else f"{r:.2g}x {name}")
