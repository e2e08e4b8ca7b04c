"""Retraining's pure parts: runs as table rows (trigger episode, waiting for labels), the new-against-
previous comparison with errors and ratios on their own scales, and whether a run may be promoted."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from conveyor.schemas.monitoring import Episode
from conveyor.schemas.retraining import Run, RunStatus
from django_admin.dashboards.common import empty, styled

# Errors are in the target's units; the others are ratios: one scale for both would flatten one of them.
ERRORS = ("MAE", "RMSE")
RATIOS = ("R2", "MAPE", "Accuracy", "F1")
NEW_COLOUR, PREVIOUS_COLOUR = "#1565c0", "#9e9e9e"


def trigger_episode(run: Run) -> Episode | None:
    found = (run.trigger or {}).get("episode")
    return Episode.model_validate(found) if isinstance(found, dict) else None


def trigger_text(run: Run) -> str:
    """Who started the run: a person, or an alert episode (its kind, start and features)."""
    if not run.trigger:
        return "manual"
    episode = trigger_episode(run)
    if episode is None:
        return f"{run.trigger.get('event', 'event')} on {run.trigger.get('service', '?')}"
    features = ", ".join(episode.features) or "no features named"
    return (f"{episode.kind} episode {episode.id} on {episode.service} from "
            f"{episode.started_at:%Y-%m-%d %H:%M:%S} ({features})")


def status_text(run: Run) -> str:
    if run.status == RunStatus.waiting_for_labels and run.waiting is not None:
        since = f" since {run.waiting.since:%Y-%m-%d %H:%M:%S}" if run.waiting.since else ""
        return f"waiting for labels: {run.waiting.have:,} of {run.waiting.need:,} labelled rows{since}"
    return run.status.value


def _data_text(request: dict[str, Any]) -> str:
    training = request.get("training") or {}
    holdout = request.get("holdout") or {}
    window = " ".join(f"{k} {training[k]}" for k in ("start", "end") if training.get(k))
    held = holdout.get("source", "testing")
    if held == "production":
        held = f"latest {holdout.get('last', '?')} production rows"
    return f"{training.get('source', 'training')}{' ' + window if window else ''}; holdout {held}"


def run_row(run: Run) -> dict[str, Any]:
    return {"run": run.id, "model": run.algorithm, "status": status_text(run),
            "trigger": trigger_text(run), "data": _data_text(run.request),
            "progress": f"{run.progress.stage} {run.progress.percent:.0f}%",
            "new version": run.new_version or "–", "promoted": "yes" if run.promoted else "no"}


def promotable(run: Run) -> tuple[bool, str]:
    """Whether Promote is offered for the run, and why not when it is not."""
    if run.promoted:
        return False, f"v{run.new_version} of run {run.id} is promoted already."
    if run.status != RunStatus.finished or run.new_version is None:
        return False, f"Promote comes when the run has finished ({status_text(run)})."
    return True, f"Promote {run.algorithm} v{run.new_version} (run {run.id}) to production."


def _bars(fig: go.Figure, results: dict[str, Any], metrics: list[str], name: str, colour: str, col: int,
          legend: bool) -> None:
    values = [results.get(m) for m in metrics]
    fig.add_trace(go.Bar(x=metrics, y=values, name=name, marker_color=colour, showlegend=legend,
                         text=[f"{v:.4g}" if isinstance(v, int | float) else "–" for v in values],
                         textposition="outside", cliponaxis=False), row=1, col=col)


def comparison_figure(run: Run) -> go.Figure:
    """New against previous on the same holdout rows: errors (target units) left, ratios right."""
    if not run.comparison:
        return empty(f"the comparison comes when the run has finished ({status_text(run)})")
    new = run.comparison.get("retrained_model_results") or {}
    old = run.comparison.get("previous_model_results") or {}
    groups = [[m for m in group if isinstance(new.get(m), int | float)] for group in (ERRORS, RATIOS)]
    groups = [g for g in groups if g]
    if not groups:
        return empty("the run's comparison holds no metrics this page knows")
    titles = ["errors (target units)" if g[0] in ERRORS else "ratios" for g in groups]
    fig = make_subplots(rows=1, cols=len(groups), subplot_titles=titles, horizontal_spacing=0.12)
    for col, metrics in enumerate(groups, start=1):
        _bars(fig, new, metrics, f"retrained v{run.new_version}", NEW_COLOUR, col, legend=col == 1)
        _bars(fig, old, metrics, f"previous v{run.previous_version}", PREVIOUS_COLOUR, col, legend=col == 1)
    fig.update_layout(barmode="group")
    fig.update_yaxes(rangemode="tozero")
    rows = f" ({run.holdout_rows:,} holdout rows)" if run.holdout_rows else ""
    styled(fig, f"New against previous, on the same holdout rows{rows}", 380)
    fig.update_layout(margin={"t": 70})  # room for the subplot titles under the title
    return fig
