"""Monitoring links: pick dataset, service, reference and window; open Evidently's HTML reports.

The links go through this site (`/dash_monitoring_links/report`), so a browser that
reaches only the admin still opens them; only the reports that fit the dataset's task are
offered. The drift chart shows the same window's per-feature drift statistics from
monitoring_api's JSON answer, against the calibrated thresholds the platform's checks use.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import plotly.graph_objects as go
from dash import dcc, html
from dash.dependencies import Input, Output
from django_plotly_dash import DjangoDash

from conveyor.schemas.datasets import Task
from conveyor.schemas.monitoring import DataDrift, Reference, ReportKind, ReportQuery
from django_admin import platform
from django_admin.dashboards import data
from django_admin.dashboards.common import STYLE, card, empty, row
from django_admin.dashboards.report_figures import calibration_line, calibration_of, drift_bars, report_kinds
from django_admin.platform import PlatformError

WINDOWS = [(500, "last 500 rows"), (1000, "last 1,000 rows"), (5000, "last 5,000 rows"), (20000, "last 20,000 rows")]

app = DjangoDash("monitoring_links", serve_locally=True)


def _dropdown(id_: str, label: str, **kwargs: Any) -> html.Div:
    return html.Div([html.Label(label), dcc.Dropdown(id=id_, clearable=False, **kwargs)],
                    style={"width": "240px", "display": "inline-block", "marginRight": "12px"})


app.layout = html.Div(style=STYLE, children=[
    dcc.Interval(id="load", interval=60_000, n_intervals=0),
    html.Div([
        _dropdown("dataset", "Dataset"), _dropdown("service", "Service"),
        _dropdown("reference", "Reference", options=[{"label": "training rows", "value": "training"},
                                                     {"label": "testing rows", "value": "testing"}],
                  value="training"),
        _dropdown("window", "Current window", options=[{"label": t, "value": v} for v, t in WINDOWS], value=1000),
    ]),
    html.H4("Evidently reports (open in a new tab)"),
    html.Ul(id="links"),
    row(card(html.Div(id="calibration", className="calibration", style={"color": "#555"}),
             dcc.Graph(id="drift"))),
])


@app.callback([Output("dataset", "options"), Output("dataset", "value")], Input("load", "n_intervals"))
def _datasets(_: int) -> tuple[list[dict[str, str]], str | None]:
    names = [d.name for d in data.datasets()]
    return [{"label": n, "value": n} for n in names], (names[0] if names else None)


@app.callback([Output("service", "options"), Output("service", "value")], Input("dataset", "value"))
def _services(dataset: str | None) -> tuple[list[dict[str, str]], str | None]:
    names = [s.name for s in data.services() if s.dataset == dataset]
    return [{"label": n, "value": n} for n in names], (names[0] if names else None)


@app.callback([Output("links", "children"), Output("drift", "figure"), Output("calibration", "children")],
              [Input("dataset", "value"), Input("service", "value"), Input("reference", "value"),
               Input("window", "value")])
def _links(dataset: str | None, service: str | None, reference: str,
           window: int) -> tuple[list[html.Li], go.Figure, str]:
    if not dataset:
        return [html.Li("no dataset registered yet")], empty("no dataset"), ""
    registered = data.dataset(dataset)
    query = ReportQuery(dataset=dataset, service=service or None, reference=Reference(reference),
                        current_rows=window)
    params = query.model_dump(mode="json", exclude_none=True, exclude={"format"})
    kinds = report_kinds(registered.task if registered else Task.regression)
    links = [html.Li(html.A(label, href=f"/dash_monitoring_links/report?{urlencode({'kind': kind, **params})}",
                            target="_blank", className="report-link", id=f"report-{kind.value}"))
             for kind, label in kinds]
    try:
        report = platform.monitoring(lambda c: c.report(ReportKind.data_drift, query))
    except PlatformError as exc:
        return links, empty(exc.message), ""
    calibration = calibration_of(report.result)
    return links, drift_bars(DataDrift.model_validate(report.result), calibration), calibration_line(calibration)
