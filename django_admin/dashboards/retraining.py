"""Retraining: start a run on chosen data, follow runs (triggered ones with their episode, waiting ones
with their label count), compare new with previous, promote after a confirmation, open the explainer.

Each refreshing callback (the models, the runs, the chosen run) has a paced refresh of its own (pacing.py): it
asks again only after its last answer, at least twice as long after as that answer took. The runs list sets the
chosen run only when it has to (a run just started, or none chosen yet), so its refresh does not set off the
chosen run's callback out of its pace.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import dash
import plotly.graph_objects as go
from dash import dcc, html
from dash.dependencies import Input, Output, State
from django_plotly_dash import DjangoDash

from conveyor.schemas.retraining import HoldoutSource, RunStatus, TrainingSource
from django_admin import platform
from django_admin.dashboards import data
from django_admin.dashboards.common import STYLE, card, empty, row, table
from django_admin.dashboards.pacing import pace_inputs, pace_outputs, paced_refresh, paced_since
from django_admin.dashboards.retraining_figures import comparison_figure, promotable, run_row, status_text
from django_admin.dashboards.retraining_form import HOLDOUTS, SOURCES, model_value, run_request
from django_admin.platform import PlatformError

MODELS = ["lr", "ridge", "lasso", "en", "dt", "rf", "et", "gbr", "knn"]
FIELD = {"width": "220px", "marginRight": "8px"}
# The paced refreshes, one per refreshing callback.
MODELS_REFRESH, RUNS, RUN = "refresh-models", "refresh", "refresh-run"

app = DjangoDash("retraining", serve_locally=True)
app.layout = html.Div(style=STYLE, children=[
    *paced_refresh(MODELS_REFRESH), *paced_refresh(RUNS), *paced_refresh(RUN),
    row(card(
        html.H4("Start a retraining run"),
        html.Label("Model to retrain (and the service whose production rows it may use)"),
        dcc.Dropdown(id="model", clearable=False),
        html.Label("Train on"),
        dcc.RadioItems(id="source", options={s.value: f" {label}" for s, label in SOURCES.items()},
                       value=TrainingSource.training.value, inline=True, labelStyle={"marginRight": "14px"}),
        html.Label("Rows stored from / before (UTC, e.g. 2026-12-01 10:00; empty: all)"), html.Br(),
        dcc.Input(id="train-start", type="text", placeholder="start", style=FIELD),
        dcc.Input(id="train-end", type="text", placeholder="end", style=FIELD), html.Br(),
        html.Label("Hold out (never trained on) "),
        dcc.RadioItems(id="holdout", options={h.value: f" {label}" for h, label in HOLDOUTS.items()},
                       value=HoldoutSource.testing.value, inline=True, labelStyle={"marginRight": "14px"}),
        html.Label("latest N production rows "), dcc.Input(id="holdout-rows", type="number", value=1000, min=10),
        html.Br(), html.Label("PyCaret models to compare"),
        dcc.Checklist(id="include", options={m: f" {m}" for m in MODELS}, value=["lr", "dt"],
                      inline=True, labelStyle={"marginRight": "14px"}),
        dcc.Checklist(id="auto", options={"auto": " auto-promote when better by the margin"}, value=[]),
        html.Label("Margin (fraction of the previous score) "),
        dcc.Input(id="margin", type="number", value=0.0, min=0, step=0.01),
        html.Br(), html.Button("Start run", id="start", n_clicks=0), html.Div(id="started", className="started"),
    ), card(html.H4("Runs"), html.Div(id="runs"))),
    row(card(
        html.Label("Run "), dcc.Dropdown(id="run", clearable=False),
        html.Div(id="run-status", className="run-status"),
        dcc.Graph(id="comparison"),
        html.Button("Promote this run's model", id="promote", n_clicks=0, disabled=True),
        html.Button("Cancel this run", id="cancel", n_clicks=0, disabled=True, style={"marginLeft": "8px"}),
        html.Div(id="promote-note", style={"color": "#555"}),
        dcc.ConfirmDialog(id="confirm-promote"), html.Div(id="promoted"), html.Div(id="cancelled"),
        html.Div(id="explainer"),
    )),
])


@app.callback([Output("model", "options"), Output("model", "value"), *pace_outputs(MODELS_REFRESH)],
              pace_inputs(MODELS_REFRESH), State("model", "value"))
def models(n: int | None, _watchdog: int | None, current: str | None) -> tuple[list[dict[str, str]], str | None,
                                                                               int, int, int]:
    started = time.perf_counter()
    options = [{"label": f"{s.algorithm.name} ({s.dataset}, service {s.name})",
                "value": model_value(s.dataset, s.algorithm.name, s.name)} for s in data.services() if s.algorithm]
    values = [o["value"] for o in options]
    return options, current if current in values else (values[0] if values else None), *paced_since(n, started)


@app.callback(Output("started", "children"), Input("start", "n_clicks"),
              [State("model", "value"), State("source", "value"), State("train-start", "value"),
               State("train-end", "value"), State("holdout", "value"), State("holdout-rows", "value"),
               State("include", "value"), State("auto", "value"), State("margin", "value")])
def _start(clicks: int, model: str | None, source: str, start: str | None, end: str | None, holdout: str,
           holdout_rows: int | None, include: list[str], auto: list[str], margin: float | None) -> str:
    if not clicks:
        return ""
    if not model:
        return "Pick a model first."
    try:
        body = run_request(model, source, start, end, holdout, holdout_rows, include, bool(auto), margin)
        accepted = platform.retraining(lambda c: c.start_run(body), timeout=120)
    except (ValueError, PlatformError) as exc:
        return f"Not started: {getattr(exc, 'message', exc)}"
    return f"Run {accepted.id} queued."


@app.callback([Output("runs", "children"), Output("run", "options"), Output("run", "value"), *pace_outputs(RUNS)],
              [*pace_inputs(RUNS), Input("started", "children")], State("run", "value"))
def runs_panel(n: int | None, _watchdog: int | None, _started: str | None,
               current: int | None) -> tuple[html.Table | str, list[dict[str, Any]], Any, int, int, int]:
    # django-plotly-dash sets dash.callback_context per call (an import of the name would be stale).
    triggered = dash.callback_context.triggered
    return refresh_runs(n, current, bool(triggered) and triggered[0]["prop_id"].startswith("started"))


def refresh_runs(n: int | None, current: int | None,
                 started: bool) -> tuple[html.Table | str, list[dict[str, Any]], Any, int, int, int]:
    """The runs panel's answer and its pace (`started`: a run was just started here, so it is the one chosen)."""
    began = time.perf_counter()
    return *_runs_panel(current, started), *paced_since(n, began)


def _runs_panel(current: int | None, started: bool) -> tuple[html.Table | str, list[dict[str, Any]], Any]:
    try:
        runs = platform.retraining(lambda c: c.list_runs(limit=20))
    except PlatformError as exc:
        return exc.message, [], None
    ids = [r.id for r in runs]
    value = ids[0] if ids and (started or current not in ids) else current
    # The same run again would set off the run's callback out of its own pace.
    return table([run_row(r) for r in runs], "runs-table"), [
        {"label": f"run {r.id}: {r.algorithm} ({r.status.value})", "value": r.id} for r in runs], (
        dash.no_update if value == current and current is not None else value)


@app.callback([Output("run-status", "children"), Output("comparison", "figure"), Output("explainer", "children"),
               Output("promote", "disabled"), Output("promote-note", "children"), Output("cancel", "disabled"),
               *pace_outputs(RUN)],
              [*pace_inputs(RUN), Input("run", "value"), Input("promoted", "children"),
               Input("cancelled", "children")])
def run_panel(n: int | None, _watchdog: int | None, run_id: int | None, _promoted: str | None,
              _cancelled: str | None) -> tuple[str, go.Figure, html.A | str, bool, str, bool, int, int, int]:
    started = time.perf_counter()
    return *_run_panel(run_id), *paced_since(n, started)


def _run_panel(run_id: int | None) -> tuple[str, go.Figure, html.A | str, bool, str, bool]:
    if run_id is None:
        return "No runs yet.", empty("start a run"), "", True, "", True
    try:
        run = platform.retraining(lambda c: c.get_run(run_id))
    except PlatformError as exc:
        return exc.message, empty(exc.message), "", True, "", True
    line = f"Run {run.id}: {status_text(run)}, {run.progress.stage} ({run.progress.percent:.0f}%)"
    if run.error:
        line += f" — {run.error}"
    if run.decision:
        line += f" — {run.decision.reason}"
    offered, note = promotable(run)
    cancellable = run.status in (RunStatus.queued, RunStatus.waiting_for_labels)
    if not run.comparison:
        return line, comparison_figure(run), "", not offered, note, not cancellable
    query = urlencode({"model_name": run.algorithm, "version": run.new_version, "evaluate_on": "testing"})
    link = html.A("Open the explainer dashboard of the new version", href=f"/admin/platform/explainer/?{query}",
                  target="_blank", id="explainer-link")
    return line, comparison_figure(run), link, not offered, note, not cancellable


@app.callback([Output("confirm-promote", "displayed"), Output("confirm-promote", "message")],
              Input("promote", "n_clicks"), State("run", "value"))
def _ask(clicks: int, run_id: int | None) -> tuple[bool, str]:
    if not clicks or run_id is None:
        return False, ""
    try:
        run = platform.retraining(lambda c: c.get_run(run_id))
    except PlatformError as exc:
        return True, f"Run {run_id} cannot be read ({exc.message}); promote anyway?"
    return True, (f"Put {run.algorithm} v{run.new_version} (run {run.id}) in production, in place of "
                  f"v{run.previous_version}? The services of v{run.previous_version} move to it.")


@app.callback(Output("promoted", "children"), Input("confirm-promote", "submit_n_clicks"), State("run", "value"))
def _promote(confirmed: int | None, run_id: int | None) -> str:
    if not confirmed or run_id is None:
        return ""
    try:
        promotion = platform.retraining(lambda c: c.promote_run(run_id))
    except PlatformError as exc:
        return f"Not promoted: {exc.message}"
    return (f"{promotion.algorithm} v{promotion.version} is in production; services moved: "
            f"{', '.join(promotion.services) or 'none'}.")


@app.callback(Output("cancelled", "children"), Input("cancel", "n_clicks"), State("run", "value"))
def _cancel(clicks: int, run_id: int | None) -> str:
    if not clicks or run_id is None:
        return ""
    try:
        run = platform.retraining(lambda c: c.cancel_run(run_id))
    except PlatformError as exc:
        return f"Not cancelled: {exc.message}"
    return f"Run {run.id} is {run.status.value}."
