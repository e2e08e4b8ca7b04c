"""The main dashboard's jobs figures and workers table, drawn from one JobStats answer (pure: no API calls).

Everything comes from GET /queue_manager/jobs/stats, which queue_manager answers from its per-minute aggregates:
no list of recent jobs is read, so the cost of a refresh does not grow with the jobs log.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import plotly.graph_objects as go

from conveyor.schemas.jobs import JobStats, LatencyPoint, ThroughputPoint, WorkerStats
from django_admin.dashboards.common import empty, styled

LATENCY_TITLE = "Latency per minute (ms, received by the worker to job finished: metadata.elapsed)"
STATUS_COLORS = {"created": "#90a4ae", "processing": "#1e88e5", "finished": "#2e7d32", "failed": "#c62828"}
HEALTHY_SECONDS = 60  # a worker whose last job ended within a minute is working
# The workers table's columns and their share of the card's width (the table is laid out fixed to the card).
WORKER_COLUMNS = {"worker": "17%", "service": "19%", "model": "22%", "finished": "10%", "failed": "8%",
                  "last job": "12%", "health": "12%"}


def jobs_by_status(stats: JobStats) -> go.Figure:
    counts = {k: v for k, v in stats.counts.items() if v}
    if not counts:
        return empty("no jobs yet")
    # go.Bar, not plotly express: px.bar costs ~50-150 ms a call here, more than the stats answer itself.
    fig = go.Figure(go.Bar(x=list(counts), y=list(counts.values()), name="jobs", showlegend=False,
                           marker={"color": [STATUS_COLORS.get(k, "#607d8b") for k in counts]}))
    fig.update_layout(xaxis_title="status", yaxis_title="jobs")
    return styled(fig, f"Jobs by status (last {stats.window_minutes} min)")


def _filled(points: list[ThroughputPoint]) -> list[ThroughputPoint]:
    """Complete minutes from the first to the last, a minute without finished jobs as 0 (the aggregates keep
    only minutes that had jobs; an absent minute inside the range did have none)."""
    by_minute = {p.minute: p.count for p in points}
    if not by_minute:
        return []
    minute, last = min(by_minute), max(by_minute)
    out = []
    while minute <= last:
        out.append(ThroughputPoint(minute=minute, count=by_minute.get(minute, 0)))
        minute += timedelta(minutes=1)
    return out


def throughput(points: list[ThroughputPoint]) -> go.Figure:
    """Finished jobs per complete minute as a line; the current minute, still filling, as a hollow marker of its
    own ("so far"), so that it never reads as a drop."""
    if not points:
        return empty("no finished jobs in the window")
    complete = _filled([p for p in points if not p.partial])
    current = [p for p in points if p.partial]
    traces = []
    if complete:
        traces.append(go.Scatter(x=[p.minute for p in complete], y=[p.count for p in complete],
                                 mode="lines+markers", name="finished jobs per minute"))
    if current:
        traces.append(go.Scatter(x=[p.minute for p in current], y=[p.count for p in current], mode="markers",
                                 name="this minute so far (still filling)",
                                 marker={"symbol": "circle-open", "size": 10, "color": "#9e9e9e"}))
    return styled(go.Figure(traces), "Throughput (finished jobs per minute)")


def latency(points: list[LatencyPoint]) -> go.Figure:
    drawn = [p for p in points if p.p50 is not None]
    if not drawn:
        return empty("no finished jobs in the window")
    traces = [go.Scatter(x=[p.minute for p in drawn], y=[_ms(getattr(p, q)) for p in drawn], name=q,
                         mode="lines+markers") for q in ("p50", "p95", "p99")]
    return styled(go.Figure(traces), LATENCY_TITLE)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{max(seconds, 0):.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"


def workers_rows(workers: list[WorkerStats], now: datetime) -> list[dict[str, Any]]:
    """Each worker with jobs in the window: its service and latest model, its finished and failed jobs in the
    window (counted by queue_manager as they were written), its last job and whether it is working."""
    rows = []
    for w in sorted(workers, key=lambda w: (w.worker_id, w.service)):
        idle = (now - w.last_at).total_seconds()
        rows.append({"worker": w.worker_id, "service": w.service, "model": w.model or "?",
                     "finished": f"{w.finished:,}", "failed": f"{w.failed:,}", "last job": _ago(idle),
                     "health": "healthy" if idle < HEALTHY_SECONDS else "idle"})
    return rows


def last_minute_count(points: list[ThroughputPoint], now: datetime) -> int:
    """Finished jobs of the last complete minute (the current one is still filling), 0 when it is not recent; the
    current minute's count so far when no complete minute is."""
    complete = [p for p in points if not p.partial and (now - p.minute).total_seconds() < 120]
    if complete:
        return complete[-1].count
    return sum(p.count for p in points if p.partial)


def status_line(stats: JobStats, refresh_seconds: float, took_seconds: float) -> str:
    p = stats.latency_seconds
    total = sum(stats.counts.values())
    latency_part = (f"latency p50 {p.p50 * 1000:.0f} ms, p99 {p.p99 * 1000:.0f} ms"
                    if p.p50 is not None and p.p99 is not None else "no latency yet")
    return (f"{total:,} jobs in the last {stats.window_minutes} min; {latency_part}; next refresh "
            f"{refresh_seconds:.0f} s after this one, which took {took_seconds * 1000:.0f} ms")
