"""Champion against challenger over time, from monitoring_api's scheduled comparisons (no I/O: testable by hand).

- top: the deciding metric (MAE or accuracy) of each model per comparison, the challenger's point coloured by
  the comparison's verdict, a star where the scheduled check promoted the challenger;
- bottom: the labelled rows each model had been scored on (the verdict waits for policy.min_labelled_rows),
  and, dotted, all the rows it predicted.

The models behind "champion" and "challenger" can change along the series (a promotion swaps them): each
point's hover names the model it scored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.challenger import ChallengerComparison, ChallengerPoint, ChallengerVerdict, ModelScore
from django_admin.dashboards.check_series import GAP_INTERVALS, usual_interval
from django_admin.dashboards.common import empty, styled

ROLE_COLOURS = {"champion": "#1565c0", "challenger": "#ef6c00"}
VERDICT_COLOURS = {ChallengerVerdict.challenger_better: "#2e7d32", ChallengerVerdict.challenger_worse: "#c62828",
                   ChallengerVerdict.not_significant: "#9e9e9e"}
VERDICT_WORDS = {ChallengerVerdict.challenger_better: "challenger better",
                 ChallengerVerdict.challenger_worse: "challenger worse",
                 ChallengerVerdict.not_significant: "not significant"}
TIME_AXIS = "time (UTC)"
# Deciding metrics where a lower value is the better model (errors, written in capitals); the others
# (accuracy) are better higher.
ERRORS = {"mae", "rmse"}


def deciding_metric(points: list[ChallengerPoint]) -> str:
    """The metric the verdicts decide on (the latest comparison's: the dataset's task does not change)."""
    return points[-1].difference.metric if points else "mae"


def metric_label(metric: str) -> str:
    """The metric as people write it: MAE, RMSE, accuracy (the API names them in lower case)."""
    return metric.upper() if metric.lower() in ERRORS else metric


def metric_of(score: ModelScore, metric: str) -> float | None:
    # Looked up whatever its case: the difference and the scores may write a metric's name differently.
    for key, value in score.metrics.items():
        if key.lower() == metric.lower():
            return value
    return None


def model_label(score: ModelScore) -> str:
    return f"{score.model.name} v{score.model.version}"


def _with_gaps(points: list[ChallengerPoint]) -> list[ChallengerPoint | datetime]:
    """Points in time order with a break (the gap's middle time) wherever comparisons stopped coming: a line
    across hours nobody compared would claim values nobody measured."""
    ordered = sorted(points, key=lambda p: p.at)
    step = usual_interval([p.at for p in ordered])
    out: list[ChallengerPoint | datetime] = []
    previous: datetime | None = None
    for point in ordered:
        if previous is not None and step is not None and point.at - previous > GAP_INTERVALS * step:
            out.append(previous + (point.at - previous) / 2)
        out.append(point)
        previous = point.at
    return out


def _column(rows: list[ChallengerPoint | datetime],
            value: Callable[[ChallengerPoint], float | int | None]) -> tuple[list[datetime], list[float | None]]:
    at = [r if isinstance(r, datetime) else r.at for r in rows]
    return at, [None if isinstance(r, datetime) else _number(value(r)) for r in rows]


def _number(value: float | int | None) -> float | None:
    return None if value is None else float(value)


def _hover(point: ChallengerPoint, score: ModelScore, metric: str) -> str:
    value = metric_of(score, metric)
    shown = "–" if value is None else f"{value:.4g}"
    return (f"{score.role.value}: {model_label(score)}<br>{metric_label(metric)} {shown} on "
            f"{score.labelled_rows:,} labelled of {score.rows:,} rows<br>verdict: {VERDICT_WORDS[point.verdict]}")


def challenger_figure(points: list[ChallengerPoint]) -> go.Figure:
    """The series of scheduled comparisons of one service as a two-panel chart (see the module's doc)."""
    if not points:
        return empty("no champion-vs-challenger comparisons yet: monitoring_api compares on its schedule")
    metric = deciding_metric(points)
    label = metric_label(metric)
    better = "lower is better" if metric.lower() in ERRORS else "higher is better"
    rows = _with_gaps(points)
    real = [r for r in rows if not isinstance(r, datetime)]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1, row_heights=[0.62, 0.38])
    for role in ("champion", "challenger"):
        def score(p: ChallengerPoint, role: str = role) -> ModelScore:
            return p.champion if role == "champion" else p.challenger

        at, values = _column(rows, lambda p: metric_of(score(p), metric))
        hover = [None if isinstance(r, datetime) else _hover(r, score(r), metric) for r in rows]
        fig.add_trace(go.Scatter(x=at, y=values, mode="lines+markers", name=f"{role} {label}",
                                 line={"color": ROLE_COLOURS[role]}, marker={"size": 5}, hovertext=hover,
                                 hoverinfo="x+text", legendgroup=role), row=1, col=1)
        at, labelled = _column(rows, lambda p: score(p).labelled_rows)
        fig.add_trace(go.Scatter(x=at, y=labelled, mode="lines", name=f"{role} labelled rows",
                                 line={"color": ROLE_COLOURS[role]}, legendgroup=role), row=2, col=1)
        at, predicted = _column(rows, lambda p: score(p).rows)
        fig.add_trace(go.Scatter(x=at, y=predicted, mode="lines", name=f"{role} rows predicted",
                                 line={"color": ROLE_COLOURS[role], "dash": "dot", "width": 1},
                                 legendgroup=role), row=2, col=1)
    # The verdict of each comparison, on the challenger's point: one trace per verdict, so the legend says
    # what the colours mean.
    for verdict in ChallengerVerdict:
        chosen = [p for p in real if p.verdict is verdict]
        if not chosen:
            continue
        fig.add_trace(go.Scatter(
            x=[p.at for p in chosen], y=[metric_of(p.challenger, metric) for p in chosen], mode="markers",
            name=f"verdict: {VERDICT_WORDS[verdict]}", hovertext=[p.reason for p in chosen], hoverinfo="x+text",
            marker={"color": VERDICT_COLOURS[verdict], "size": 11, "line": {"color": "white", "width": 1}}),
            row=1, col=1)
    promoted = [p for p in real if p.promoted]
    if promoted:
        fig.add_trace(go.Scatter(
            x=[p.at for p in promoted], y=[metric_of(p.challenger, metric) for p in promoted], mode="markers",
            name="promoted by monitoring", hovertext=[f"promoted {model_label(p.challenger)}" for p in promoted],
            hoverinfo="x+text", marker={"symbol": "star", "size": 16, "color": "#6a1b9a"}), row=1, col=1)
    fig.update_yaxes(title_text=f"{label} ({better})", row=1, col=1)
    fig.update_yaxes(title_text="rows", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title_text=TIME_AXIS, row=2, col=1)
    return styled(fig, f"Champion vs challenger: {label} per model and the verdict per comparison", 460)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def verdict_line(point: ChallengerComparison) -> str:
    """The comparison in one sentence: which way, each model's metric on how many labelled rows, how sure.
    (The API's own reason, which says the same at more length, is shown beside it where there is room.)"""
    d = point.difference
    label = metric_label(d.metric)
    interval = f" [{_fmt(d.low)}, {_fmt(d.high)}] at {d.confidence:.0%}" if d.low is not None else ""
    needed = f"; about {point.rows_needed:,} more labelled rows per model needed" if point.rows_needed else ""
    promoted = "; promoted by monitoring" if point.promoted else ""

    def side(score: ModelScore) -> str:
        return (f"{score.role.value} {model_label(score)} {label} {_fmt(metric_of(score, d.metric))} on "
                f"{score.labelled_rows:,} labelled rows")

    return (f"{VERDICT_WORDS[point.verdict]} ({point.mode.value}, {point.at:%Y-%m-%d %H:%M:%S} UTC): "
            f"{side(point.challenger)} vs {side(point.champion)}; difference {_fmt(d.value)}{interval} "
            f"(positive: challenger better){needed}{promoted}")


def panel_shown(challenger: AlgorithmRef | None, points: list[ChallengerPoint]) -> bool:
    """The dashboard shows the panel while the service has a challenger, or once it has been compared (a
    promotion that archived the old champion leaves the series that led to it worth seeing)."""
    return challenger is not None or bool(points)
