"""Checks as time series for charts: one point per check, and a break where checks stopped coming.

A line drawn across an hour without checks claims values nobody measured; a None between two
points makes Plotly leave the gap open (its `connectgaps` is off by default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from conveyor.schemas.monitoring import CheckPoint

# A gap is this many usual check intervals without a check.
GAP_INTERVALS = 2


@dataclass
class Series:
    """Times, and per name one value per time (None: no value, or a break in the series)."""

    at: list[datetime] = field(default_factory=list)
    values: dict[str, list[float | None]] = field(default_factory=dict)

    def column(self, name: str) -> list[float | None]:
        return self.values.get(name, [None] * len(self.at))

    def has(self, name: str) -> bool:
        return any(v is not None for v in self.column(name))


def usual_interval(times: list[datetime]) -> timedelta | None:
    """The median spacing of the checks (the schedule's interval, as the checks show it)."""
    steps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False) if b > a]
    return timedelta(seconds=median(steps)) if steps else None


def series(checks: list[CheckPoint], values: Callable[[CheckPoint], dict[str, float | None]]) -> Series:
    """`values` of each check in time order, with a None row inside every gap of > GAP_INTERVALS intervals."""
    ordered = sorted(checks, key=lambda c: c.at)
    step = usual_interval([c.at for c in ordered])
    out = Series()
    rows = [values(c) for c in ordered]
    names = list(dict.fromkeys(name for r in rows for name in r))
    out.values = {name: [] for name in names}
    previous: datetime | None = None
    for check, row in zip(ordered, rows, strict=True):
        if previous is not None and step is not None and check.at - previous > GAP_INTERVALS * step:
            out.at.append(previous + (check.at - previous) / 2)
            for name in names:
                out.values[name].append(None)
        out.at.append(check.at)
        for name in names:
            out.values[name].append(row.get(name))
        previous = check.at
    return out
