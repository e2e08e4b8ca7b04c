"""The real-time monitoring charts, built from monitoring_api's shapes alone (no I/O: testable by hand).

- drift: the largest feature's statistic over its calibrated threshold (the dataset rule: any
  feature above 1 is drift), and the share of features above theirs on a 0–1 axis;
- a heat strip of every feature's ratio per check, so eleven features stay apart;
- performance: realized (solid) and estimated (dashed) against the model's reference error and
  the tolerance limit, in the target's units;
- episodes as shaded spans from their start to their end (or now), one colour per kind.
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from conveyor.schemas.datasets import Task
from conveyor.schemas.monitoring import CheckPoint, DriftStatus, Episode
from django_admin.dashboards.check_series import series
from django_admin.dashboards.common import empty, styled

EPISODE_COLOURS = {"drift_detected": "#fb8c00", "performance_degraded": "#c62828"}
TIME_AXIS = "time (UTC)"
# The heat strip's colours: green well under the threshold, yellow at it, red from twice it on.
RATIO_SCALE = [[0.0, "#2e7d32"], [0.5, "#fff59d"], [1.0, "#c62828"]]
RATIO_MAX = 2.0


def add_episode_spans(fig: go.Figure, episodes: list[Episode], kinds: tuple[str, ...], now: datetime,
                      **where: Any) -> None:
    """Each episode of these kinds as a shaded span; one legend entry per kind shown."""
    shown = set()
    for episode in episodes:
        if episode.kind not in kinds:
            continue
        colour = EPISODE_COLOURS.get(episode.kind, "#757575")
        fig.add_vrect(x0=episode.started_at, x1=episode.ended_at or now, fillcolor=colour,
                      opacity=0.12 if episode.estimated else 0.2, line_width=0, layer="below", **where)
        shown.add(episode.kind)
    for kind in sorted(shown):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"episode: {kind}",
                                 marker={"symbol": "square", "size": 12, "color": EPISODE_COLOURS.get(kind)}))


def _uncalibrated_note(checks: list[CheckPoint]) -> str:
    undecided = [c for c in checks if c.drift_decision and c.drift_decision.status != DriftStatus.calibrated]
    if not undecided:
        return ""
    return f" ({len(undecided)} of {len(checks)} checks uncalibrated: no thresholds)"


def drift_figure(checks: list[CheckPoint], episodes: list[Episode], now: datetime) -> go.Figure:
    """Top: the largest ratio statistic/threshold per check, the rule's line at 1. Bottom: drift share 0–1."""
    def values(check: CheckPoint) -> dict[str, float | None]:
        ratios = [r for r in check.drift_ratios().values() if r is not None]
        return {"ratio": max(ratios) if ratios else None, "share": check.drift_share}

    points = series(checks, values)
    note = _uncalibrated_note(checks)
    if not points.has("share") and not points.has("ratio") and not note:
        return empty("no drift figures in the checks yet")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.6, 0.4])
    fig.add_trace(go.Scatter(x=points.at, y=points.column("ratio"), mode="lines+markers",
                             name="largest statistic / calibrated threshold", line={"color": "#1565c0"}),
                  row=1, col=1)
    fig.add_hline(y=1, line_dash="dash", line_color="#c62828", row=1, col=1,
                  annotation_text="calibrated threshold: any feature above → drift detected",
                  annotation_position="top left")
    fig.add_trace(go.Bar(x=points.at, y=points.column("share"), name="share of features over their threshold",
                         marker_color="#6a1b9a"), row=2, col=1)
    add_episode_spans(fig, episodes, ("drift_detected",), now, row="all", col=1)
    fig.update_yaxes(title_text="statistic / threshold", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="drift share", range=[0, 1], tickformat=".0%", row=2, col=1)
    fig.update_xaxes(title_text=TIME_AXIS, row=2, col=1)
    latest = next((c.drift_decision for c in sorted(checks, key=lambda c: c.at, reverse=True)
                   if c.drift_decision), None)
    if not points.has("ratio") and latest is not None:  # every check uncalibrated: nothing to draw, and why
        fig.add_annotation(text=f"uncalibrated, no drift decision:<br>{_wrapped(latest.reason)}", showarrow=False,
                           xref="x domain", yref="y domain", x=0.5, y=0.5, font={"color": "#888"})
    return styled(fig, "Drift per check" + note, 420)


def _wrapped(text: str, width: int = 70) -> str:
    return "<br>".join(textwrap.wrap(text, width))


def heat_strip(checks: list[CheckPoint], episodes: list[Episode], now: datetime) -> go.Figure:
    """Features × checks, colour = the feature's statistic over its calibrated threshold (1: at the threshold)."""
    # Uncalibrated checks have no thresholds: when the latest one is, the raw statistics are shown, and said so.
    latest = max((c for c in checks if c.drift), key=lambda c: c.at, default=None)
    calibrated = latest is not None and any(r is not None for r in latest.drift_ratios().values())
    points = series(checks, lambda c: c.drift_ratios() if calibrated else c.drift_scores())
    features = sorted(points.values, reverse=True)  # top to bottom in name order
    if not features or not any(points.has(name) for name in features):
        return empty("no per-feature drift figures in the checks yet")
    z = [points.column(name) for name in features]
    fig = go.Figure(go.Heatmap(
        x=points.at, y=features, z=z, zmin=0, zmax=RATIO_MAX if calibrated else None,
        colorscale=RATIO_SCALE if calibrated else "Blues", xgap=1, ygap=1, hoverongaps=False,
        colorbar={"title": {"text": "statistic /<br>threshold" if calibrated else "statistic"}},
        hovertemplate="%{y}<br>%{x}<br>%{z:.2f}<extra></extra>"))
    add_episode_spans(fig, episodes, ("drift_detected",), now)
    title = ("Features: statistic over calibrated threshold (red: over, from 1)" if calibrated
             else "Features: drift statistic (uncalibrated: no thresholds)")
    fig.update_xaxes(title_text=TIME_AXIS)
    fig.update_yaxes(title_text="feature")
    return styled(fig, title, max(300, 40 + 24 * len(features)))


def performance_metric(task: Task) -> tuple[str, str]:
    """(field, label): the metric the chart follows for the task."""
    return ("mae", "MAE") if task == Task.regression else ("accuracy", "accuracy")


def _reference_and_limit(checks: list[CheckPoint], metric: str) -> tuple[float | None, float | None]:
    for check in reversed(checks):
        if check.reference_error is None:
            continue
        reference = getattr(check.reference_error, metric)
        # The labelled rows' limit; the estimate's (the same reference and tolerance) before enough labels.
        limits = sorted((v.estimated, v.limit) for v in check.performance
                        if v.metric.lower() == metric and v.limit is not None)
        limit = limits[0][1] if limits else None
        return reference, limit
    return None, None


def performance_figure(checks: list[CheckPoint], episodes: list[Episode], task: Task, target: str,
                       now: datetime) -> go.Figure:
    """Realized (labelled rows) solid, estimated (before labels) dashed, the reference error and the limit."""
    metric, label = performance_metric(task)

    def values(check: CheckPoint) -> dict[str, float | None]:
        realized = getattr(check.realized, metric) if check.realized else getattr(check, metric, None)
        estimated = getattr(check.estimated, metric) if check.estimated and check.estimated.method else None
        return {"realized": realized, "estimated": estimated}

    points = series(checks, values)
    if not points.has("realized") and not points.has("estimated"):
        return empty("no labelled rows and no estimate in the checked windows yet")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=points.at, y=points.column("realized"), mode="lines+markers",
                             name=f"{label} realized (labelled rows)", line={"color": "#1565c0"}))
    method = next((c.estimated.method for c in reversed(checks) if c.estimated and c.estimated.method), None)
    fig.add_trace(go.Scatter(x=points.at, y=points.column("estimated"), mode="lines",
                             name=f"{label} estimated ({method or 'no estimate'})",
                             line={"color": "#1565c0", "dash": "dash"}))
    reference, limit = _reference_and_limit(sorted(checks, key=lambda c: c.at), metric)
    if reference is not None:
        fig.add_hline(y=reference, line_color="#2e7d32", annotation_text=f"model's reference {label} {reference:.3g}",
                      annotation_position="bottom left")
    if limit is not None:
        fig.add_hline(y=limit, line_color="#c62828", line_dash="dot",
                      annotation_text=f"tolerance limit {limit:.3g}", annotation_position="top left")
    add_episode_spans(fig, episodes, ("performance_degraded",), now)
    unit = f"{label}, in units of {target}" if task == Task.regression else f"{label} (share of rows)"
    fig.update_yaxes(title_text=unit, rangemode="tozero")
    fig.update_xaxes(title_text=TIME_AXIS)
    return styled(fig, f"Performance per check: realized and estimated {label}", 420)
