"""Retraining: start a run, watch its progress, compare new with previous, promote, open the explainer."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
import plotly.graph_objects as go
from dash import dcc, html
from dash.dependencies import Input, Output, State
from django_plotly_dash import DjangoDash

from conveyor.schemas.retraining import RunCreate
from django_admin import platform
from django_admin.dashboards import data
from django_admin.dashboards.common import STYLE, card, empty, refresh, row, styled, table
from django_admin.platform import PlatformError

MODELS = ["lr", "ridge", "lasso", "en", "dt", "rf", "et", "gbr", "knn"]
COMPARED = ("MAE", "RMSE", "R2", "MAPE", "Accuracy", "F1")

app = DjangoDash("retraining", serve_locally=True)
app.layout = html.Div(style=STYLE, children=[
    refresh(),
    row(card(
        html.H4("Start a retraining run"),
        html.Label("Model to retrain"), dcc.Dropdown(id="model", clearable=False),
        html.Label("PyCaret models to compare"),
        dcc.Checklist(id="include", options={m: f" {m}" for m in MODELS}, value=["lr", "dt"],
                      inline=True, labelStyle={"marginRight": "14px"}),
        dcc.Checklist(id="auto", options={"auto": " auto-promote when better by the margin"},
                      value=[]),
        html.Label("Margin (fraction of the previous score) "),
        dcc.Input(id="margin", type="number", value=0.0, min=0, step=0.01),
        html.Br(), html.Button("Start run", id="start", n_clicks=0), html.Div(id="started", className="started"),
    ), card(html.H4("Runs"), html.Div(id="runs"))),
    row(card(
        html.Label("Run "), dcc.Dropdown(id="run", clearable=False),
        html.Div(id="run-status", className="run-status"),
        dcc.Graph(id="comparison"),
        html.Button("Promote this run's model", id="promote", n_clicks=0), html.Div(id="promoted"),
        html.Div(id="explainer"),
    )),
])


@app.callback([Output("model", "options"), Output("model", "value")], Input("refresh", "n_intervals"),
              State("model", "value"))
def _models(_: int, current: str | None) -> tuple[list[dict[str, str]], str | None]:
    options = []
    for service in data.services():
        if service.algorithm:
            value = f"{service.dataset}|{service.algorithm.name}"
            options.append({"label": f"{service.algorithm.name} ({service.dataset}, service {service.name})",
                            "value": value})
    options = list({o["value"]: o for o in options}.values())
    values = [o["value"] for o in options]
    return options, current if current in values else (values[0] if values else None)


@app.callback(Output("started", "children"), Input("start", "n_clicks"),
              [State("model", "value"), State("include", "value"), State("auto", "value"), State("margin", "value")])
def _start(clicks: int, model: str | None, include: list[str], auto: list[str], margin: float | None) -> str:
    if not clicks:
        return ""
    if not model:
        return "Pick a model first."
    dataset, name = model.split("|", 1)
    try:
        body = RunCreate(dataset=dataset, algorithm=name, include=include or None, auto_promote=bool(auto),
                         margin=margin or 0.0)
        accepted = platform.retraining(lambda c: c.start_run(body), timeout=120)
    except (ValueError, PlatformError) as exc:
        return f"Not started: {getattr(exc, 'message', exc)}"
    return f"Run {accepted.id} queued."


@app.callback([Output("runs", "children"), Output("run", "options"), Output("run", "value")],
              [Input("refresh", "n_intervals"), Input("started", "children")], State("run", "value"))
def _runs(_: int, __: str, current: int | None) -> tuple[html.Table | str, list[dict[str, Any]], int | None]:
    try:
        runs = platform.retraining(lambda c: c.list_runs(limit=20))
    except PlatformError as exc:
        return exc.message, [], None
    rows = [{"run": r.id, "model": r.algorithm, "status": r.status.value,
             "progress": f"{r.progress.stage} {r.progress.percent:.0f}%",
             "new version": r.new_version or "–", "promoted": "yes" if r.promoted else "no"} for r in runs]
    ids = [r.id for r in runs]
    # django-plotly-dash sets dash.callback_context per call (an import of the name would be stale).
    triggered = dash.callback_context.triggered
    started = bool(triggered) and triggered[0]["prop_id"].startswith("started")
    value = ids[0] if ids and (started or current not in ids) else current
    return table(rows, "runs-table"), [{"label": f"run {r.id}: {r.algorithm} ({r.status.value})", "value": r.id}
                                       for r in runs], value


@app.callback([Output("run-status", "children"), Output("comparison", "figure"), Output("explainer", "children")],
              [Input("run", "value"), Input("refresh", "n_intervals")])
def _run(run_id: int | None, _: int) -> tuple[str, go.Figure, html.A | str]:
    if run_id is None:
        return "No runs yet.", empty("start a run"), ""
    try:
        run = platform.retraining(lambda c: c.get_run(run_id))
    except PlatformError as exc:
        return exc.message, empty(exc.message), ""
    line = f"Run {run.id}: {run.status.value}, {run.progress.stage} ({run.progress.percent:.0f}%)"
    if run.error:
        line += f" — {run.error}"
    if run.decision:
        line += f" — {run.decision.reason}"
    if not run.comparison:
        return line, empty(f"the comparison comes when the run has finished ({run.status.value})"), ""
    new = run.comparison.get("retrained_model_results") or {}
    old = run.comparison.get("previous_model_results") or {}
    metrics = [m for m in COMPARED if isinstance(new.get(m), int | float)]
    fig = go.Figure([go.Bar(name=f"retrained v{run.new_version}", x=metrics, y=[new[m] for m in metrics]),
                     go.Bar(name=f"previous v{run.previous_version}", x=metrics,
                            y=[old.get(m) for m in metrics])])
    fig.update_layout(barmode="group")
    query = urlencode({"model_name": run.algorithm, "version": run.new_version, "evaluate_on": "testing"})
    link = html.A("Open the explainer dashboard of the new version", href=f"/admin/platform/explainer/?{query}",
                  target="_blank", id="explainer-link")
    return line, styled(fig, "New against previous, on the same holdout rows", 340), link


@app.callback(Output("promoted", "children"), Input("promote", "n_clicks"), State("run", "value"))
def _promote(clicks: int, run_id: int | None) -> str:
    if not clicks or run_id is None:
        return ""
    try:
        promotion = platform.retraining(lambda c: c.promote_run(run_id))
    except PlatformError as exc:
        return f"Not promoted: {exc.message}"
    return (f"{promotion.algorithm} v{promotion.version} is in production; services moved: "
            f"{', '.join(promotion.services) or 'none'}.")
