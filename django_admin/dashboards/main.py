"""Main dashboard: jobs by status, throughput and latency over time, predictions against labels,
rows per table, and each worker's jobs and model; it refreshes by itself.

Two callbacks, each with its own paced refresh (pacing.py): the jobs panel reads one GET
/queue_manager/jobs/stats (aggregates kept as jobs are written, so its cost does not grow with the jobs log), the
data panel reads ml_data_api (latest predictions and labels, rows per table). Neither waits for the other, and each
waits for its own last answer before it asks again, at an interval of at least twice what its last refresh took.
The service list is paced the same way, on a refresh of its own.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import plotly.express as px
import plotly.graph_objects as go
from dash import dcc, html
from dash.dependencies import Input, Output
from django_plotly_dash import DjangoDash

from django_admin import platform
from django_admin.dashboards import data, main_figures
from django_admin.dashboards.common import STYLE, card, empty, row, service_options, styled, table
from django_admin.dashboards.pacing import (
    base_seconds,
    next_refresh,
    pace_inputs,
    pace_outputs,
    pace_values,
    paced_refresh,
    paced_since,
)
from django_admin.platform import PlatformError

WINDOW_MINUTES = 60
JOBS, DATA, SERVICES = "refresh", "refresh-data", "refresh-services"  # a paced refresh per refreshing callback

app = DjangoDash("main_dashboard", serve_locally=True)
app.layout = html.Div(style=STYLE, children=[
    *paced_refresh(JOBS), *paced_refresh(DATA), *paced_refresh(SERVICES),
    html.Div([html.Label("Service "), dcc.Dropdown(id="service", placeholder="all services",
                                                   style={"width": "360px", "display": "inline-block"})]),
    html.Div(id="status-line", style={"margin": "6px 0", "color": "#555"}),
    row(card(dcc.Graph(id="jobs-by-status")), card(dcc.Graph(id="throughput"))),
    row(card(dcc.Graph(id="latency")), card(dcc.Graph(id="predictions"))),
    row(card(dcc.Graph(id="rows-per-table")),
        card(html.H4(f"Workers (jobs in the last {WINDOW_MINUTES} min)"),
             html.Div(id="workers", style={"maxHeight": "300px", "overflowY": "auto"}))),
])


@app.callback([Output("service", "options"), *pace_outputs(SERVICES)], pace_inputs(SERVICES))
def services(n: int | None, _watchdog: int | None) -> tuple[list[dict[str, str]], int, int, int]:
    started = time.perf_counter()
    return service_options(data.services()), *paced_since(n, started)


JobsPanel = tuple[go.Figure, go.Figure, go.Figure, html.Table | str, str, int, int, int]


@app.callback(
    [Output("jobs-by-status", "figure"), Output("throughput", "figure"), Output("latency", "figure"),
     Output("workers", "children"), Output("status-line", "children"), *pace_outputs(JOBS)],
    [*pace_inputs(JOBS), Input("service", "value")],
)
def jobs_panel(n: int | None, _watchdog: int | None, service: str | None) -> JobsPanel:
    started = time.perf_counter()
    try:
        stats = platform.qm(lambda c: c.job_stats(service=service, window_minutes=WINDOW_MINUTES))
    except PlatformError as exc:
        message = empty(exc.message)
        pace = next_refresh(n, time.perf_counter() - started, base_seconds())
        return message, message, message, "", exc.message, *pace_values(pace)
    by_status = main_figures.jobs_by_status(stats)
    throughput = main_figures.throughput(stats.throughput_per_minute)
    latency = main_figures.latency(stats.latency_per_minute)
    workers = table(main_figures.workers_rows(stats.workers, datetime.now(UTC)), "workers-table",
                    widths=main_figures.WORKER_COLUMNS)
    took = time.perf_counter() - started
    pace = next_refresh(n, took, base_seconds())
    line = main_figures.status_line(stats, pace.interval_ms / 1000, took)
    return by_status, throughput, latency, workers, line, *pace_values(pace)


@app.callback(
    [Output("predictions", "figure"), Output("rows-per-table", "figure"), *pace_outputs(DATA)],
    [*pace_inputs(DATA), Input("service", "value")],
)
def data_panel(n: int | None, _watchdog: int | None, service: str | None) -> tuple[go.Figure, go.Figure, int, int,
                                                                                   int]:
    started = time.perf_counter()
    predictions = _predictions(service)
    counts_frame = data.row_counts()
    rows = styled(px.bar(counts_frame, x="dataset", y="rows", color="table", barmode="group"),
                  "Rows per table") if not counts_frame.empty else empty("no datasets")
    return predictions, rows, *pace_values(next_refresh(n, time.perf_counter() - started, base_seconds()))


def _predictions(service: str | None) -> go.Figure:
    candidates = [s for s in data.services() if service in (None, s.name)]
    if not candidates:
        return empty("no service")
    chosen = candidates[0]
    try:
        frame = data.predictions_and_labels(chosen)
    except PlatformError as exc:
        return empty(exc.message)
    if frame.empty:
        return empty(f"no predictions of {chosen.name} yet")
    fig = go.Figure([go.Scatter(x=frame["at"], y=frame["prediction"], name="prediction", mode="markers"),
                     go.Scatter(x=frame["at"], y=frame["label"], name="label (ground truth)", mode="markers")])
    return styled(fig, f"Latest predictions and labels ({chosen.name})")
