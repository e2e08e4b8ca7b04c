"""Main dashboard: jobs by status, throughput and latency over time, predictions against labels,
rows per table, and each worker's health and model; it refreshes by itself."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
from dash import dcc, html
from dash.dependencies import Input, Output
from django_plotly_dash import DjangoDash

from django_admin import platform
from django_admin.dashboards import data
from django_admin.dashboards.common import STYLE, card, empty, refresh, row, service_options, styled, table
from django_admin.platform import PlatformError

app = DjangoDash("main_dashboard", serve_locally=True)
app.layout = html.Div(style=STYLE, children=[
    refresh(),
    html.Div([html.Label("Service "), dcc.Dropdown(id="service", placeholder="all services",
                                                   style={"width": "360px", "display": "inline-block"})]),
    html.Div(id="status-line", style={"margin": "6px 0", "color": "#555"}),
    row(card(dcc.Graph(id="jobs-by-status")), card(dcc.Graph(id="throughput"))),
    row(card(dcc.Graph(id="latency")), card(dcc.Graph(id="predictions"))),
    row(card(dcc.Graph(id="rows-per-table")), card(html.H4("Workers"), html.Div(id="workers"))),
])


@app.callback(Output("service", "options"), Input("refresh", "n_intervals"))
def _services(_: int) -> list[dict[str, str]]:
    return service_options(data.services())


@app.callback(
    [Output("jobs-by-status", "figure"), Output("throughput", "figure"), Output("latency", "figure"),
     Output("predictions", "figure"), Output("rows-per-table", "figure"), Output("workers", "children"),
     Output("status-line", "children")],
    [Input("refresh", "n_intervals"), Input("service", "value")],
)
def _update(_: int, service: str | None) -> tuple[go.Figure, go.Figure, go.Figure, go.Figure, go.Figure,
                                                 html.Table | str, str]:
    try:
        stats = platform.qm(lambda c: c.job_stats(service=service, window_minutes=60))
        jobs = data.recent_jobs(service)
    except PlatformError as exc:
        message = empty(exc.message)
        return message, message, message, message, message, "", exc.message
    counts = {k: v for k, v in stats.counts.items() if v}
    by_status = styled(px.bar(x=list(counts), y=list(counts.values()), labels={"x": "status", "y": "jobs"},
                              color=list(counts)), "Jobs by status (last 60 min)") if counts else empty("no jobs yet")
    points = stats.throughput_per_minute
    throughput = styled(go.Figure(go.Scatter(x=[p.minute for p in points], y=[p.count for p in points],
                                             mode="lines+markers", name="jobs/min")),
                        "Throughput (jobs per minute)") if points else empty("no jobs in the last hour")
    per_minute = data.latency_per_minute(jobs)
    latency = styled(go.Figure([go.Scatter(x=per_minute["minute"], y=per_minute[p], name=p, mode="lines+markers")
                                for p in ("p50", "p95")]),
                     "Latency per minute (ms, published to stored)") if not per_minute.empty else empty("no jobs")
    predictions = _predictions(service)
    counts_frame = data.row_counts()
    rows = styled(px.bar(counts_frame, x="dataset", y="rows", color="table", barmode="group"),
                  "Rows per table") if not counts_frame.empty else empty("no datasets")
    p = stats.latency_seconds
    line = (f"{sum(stats.counts.values())} jobs in the last hour; latency p50 "
            f"{(p.p50 or 0) * 1000:.0f} ms, p99 {(p.p99 or 0) * 1000:.0f} ms")
    return by_status, throughput, latency, predictions, rows, table(data.workers(jobs), "workers-table"), line


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
