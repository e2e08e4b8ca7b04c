"""Refreshes paced by how long they take, so that no refresh is ever dropped for a newer one.

Dash drops a callback's answer when the same callback is asked again before it answers: with a fixed
dcc.Interval of 5 s and a callback of 7-18 s, every answer was dropped and the page went blank. Chosen here,
server-side and without any script of our own:

- a gate: the interval starts with `max_intervals=0` (no tick before the first answer), and every answer opens
  it for exactly one more tick (`max_intervals = n_intervals + 1`). dcc.Interval stops its timer while
  `n_intervals >= max_intervals` and starts a fresh one when the answer raises the limit, so the next tick
  comes a full interval after the answer: a refresh never overlaps the one before it;
- an adaptive interval: the callback measures its own duration and sets the next interval to at least
  SLACK times that (never below the configured ADMIN_DASHBOARD_REFRESH_SECONDS), so a slow platform is asked
  at most a third of the time (duration, then twice the duration of waiting);
- a watchdog: a second, slow interval triggers the callback too, so that an answer lost on the way (the admin
  restarted, a network error, a server error) cannot leave the gate closed for good.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from dash import dcc
from dash.dependencies import Input, Output
from django.conf import settings

SLACK = 2.0  # the next refresh waits at least twice as long as the last one took
LONGEST_MS = 600_000  # a refresh is never further apart than 10 minutes, however slow the last one was
WATCHDOG_MS = 60_000  # the watchdog's least period; it stays well above the refresh interval


@dataclass(frozen=True)
class Pace:
    interval_ms: int  # dcc.Interval.interval of the next tick
    max_intervals: int  # dcc.Interval.max_intervals: one tick more than the ticks so far
    watchdog_ms: int  # the watchdog interval's period


def base_seconds() -> float:
    return float(settings.CONVEYOR["DASHBOARD_REFRESH_SECONDS"])


def next_refresh(n_intervals: int | None, took_seconds: float, base: float) -> Pace:
    """The pace after a refresh of `took_seconds` answering tick `n_intervals`, for a base interval of `base` s."""
    wanted = max(base, SLACK * max(took_seconds, 0.0))
    interval_ms = min(LONGEST_MS, math.ceil(wanted * 1000))
    return Pace(interval_ms=interval_ms, max_intervals=(n_intervals or 0) + 1,
                watchdog_ms=max(WATCHDOG_MS, 3 * interval_ms))


def paced_refresh(id_: str = "refresh") -> list[dcc.Interval]:
    """The layout's two intervals: the gated refresh (closed until the first answer) and its watchdog."""
    base_ms = math.ceil(base_seconds() * 1000)
    return [dcc.Interval(id=id_, interval=base_ms, n_intervals=0, max_intervals=0),
            dcc.Interval(id=f"{id_}-watchdog", interval=max(WATCHDOG_MS, 3 * base_ms), n_intervals=0)]


def pace_inputs(id_: str = "refresh") -> list[Input]:
    return [Input(id_, "n_intervals"), Input(f"{id_}-watchdog", "n_intervals")]


def pace_outputs(id_: str = "refresh") -> list[Output]:
    return [Output(id_, "interval"), Output(id_, "max_intervals"), Output(f"{id_}-watchdog", "interval")]


def pace_values(pace: Pace) -> tuple[int, int, int]:
    """The values of pace_outputs, in their order."""
    return pace.interval_ms, pace.max_intervals, pace.watchdog_ms


def paced_since(n_intervals: int | None, started: float) -> tuple[int, int, int]:
    """pace_values for a refresh that began at `started` (time.perf_counter()) and answers now, at the configured
    base interval: the last values a paced callback returns."""
    return pace_values(next_refresh(n_intervals, time.perf_counter() - started, base_seconds()))
