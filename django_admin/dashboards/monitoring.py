"""Real-time monitoring: monitoring_api's checks as time series against their calibrated thresholds,
alert episodes as spans and as a paged table (monitoring_figures draws, this module fetches and wires).

Each refreshing callback (the services, the checks, the challenger, the episodes) has a paced refresh of its own
(pacing.py): it asks again only after its last answer, at least twice as long after as that answer took. The
service list sets the chosen service only when it has to (first call, or the service is gone), so a refresh of
the list does not set off the other callbacks out of their pace.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import dash
import plotly.graph_objects as go
from dash import dcc, html
from dash.dependencies import Input, Output, State
from django_plotly_dash import DjangoDash

from conveyor.schemas.datasets import Task
from conveyor.schemas.monitoring import CheckPoint
from django_admin.dashboards import data
from django_admin.dashboards.challenger_figures import challenger_figure, panel_shown, verdict_line
from django_admin.dashboards.common import STYLE, card, empty, row, service_options, table
from django_admin.dashboards.episode_table import PAGE_SIZE, episode_row, page_label, page_offset, paging_disabled
from django_admin.dashboards.monitoring_figures import drift_figure, heat_strip, performance_figure
from django_admin.dashboards.pacing import pace_inputs, pace_outputs, paced_refresh, paced_since
from django_admin.platform import PlatformError

# Episodes drawn as spans on the charts: the latest ones, enough for the checks shown.
SPANS = 100
# The paced refreshes, one per refreshing callback.
SERVICES, CHECKS, CHALLENGER, EPISODES = "refresh-services", "refresh", "refresh-challenger", "refresh-episodes"

app = DjangoDash("monitoring", serve_locally=True)
app.layout = html.Div(style=STYLE, children=[
    *paced_refresh(SERVICES), *paced_refresh(CHECKS), *paced_refresh(CHALLENGER), *paced_refresh(EPISODES),
    html.Div([html.Label("Service "), dcc.Dropdown(id="service", clearable=False,
                                                   style={"width": "360px", "display": "inline-block"})]),
    html.Div(id="decision", className="decision", style={"margin": "6px 0", "color": "#555"}),
    row(card(dcc.Graph(id="drift-share")), card(dcc.Graph(id="performance"))),
    row(card(dcc.Graph(id="feature-drift"))),
    # Champion vs challenger: shown while the service has a challenger or has been compared before.
    html.Div(id="challenger-panel", style={"display": "none"}, children=[row(card(
        html.Div(id="challenger-verdict", className="decision", style={"margin": "6px 0", "color": "#555"}),
        dcc.Graph(id="challenger")))]),
    row(card(html.H4("Alert episodes"),
             html.Div([html.Button("‹ newer", id="episodes-prev", n_clicks=0),
                       html.Span(id="episodes-page", style={"margin": "0 12px"}),
                       html.Button("older ›", id="episodes-next", n_clicks=0)], className="episodes-paging"),
             html.Div(id="episodes"),
             dcc.Store(id="episodes-offset", data=0), dcc.Store(id="episodes-total", data=0))),
])


@app.callback([Output("service", "options"), Output("service", "value"), *pace_outputs(SERVICES)],
              [*pace_inputs(SERVICES), Input("service", "value")])
def services(n: int | None, _watchdog: int | None, current: str | None) -> tuple[list[dict[str, str]], Any,
                                                                                  int, int, int]:
    started = time.perf_counter()
    found = data.services()
    names = [s.name for s in found]
    # The same service again would set off the checks, challenger and episodes out of their own pace.
    value = dash.no_update if current in names else data.streaming_service(found)
    return service_options(found), value, *paced_since(n, started)


def _decision_line(checks: list[CheckPoint]) -> str:
    latest = checks[-1]
    parts = [f"Latest check {latest.at:%H:%M:%S} UTC on {latest.rows_current:,} rows "
             f"({latest.rows_labeled:,} labelled)"]
    if latest.drift_decision:
        parts.append(f"drift {latest.drift_decision.status.value}: {latest.drift_decision.reason}")
    parts += [v.reason for v in latest.performance if v.reason]
    return "; ".join(parts)


@app.callback([Output("drift-share", "figure"), Output("performance", "figure"), Output("feature-drift", "figure"),
               Output("decision", "children"), *pace_outputs(CHECKS)],
              [*pace_inputs(CHECKS), Input("service", "value")])
def checks_panel(n: int | None, _watchdog: int | None, service: str | None) -> tuple[go.Figure, go.Figure,
                                                                                     go.Figure, str, int, int, int]:
    started = time.perf_counter()
    return *_checks_panel(service), *paced_since(n, started)


def _checks_panel(service: str | None) -> tuple[go.Figure, go.Figure, go.Figure, str]:
    if not service:
        nothing = empty("no service")
        return nothing, nothing, nothing, ""
    try:
        checks = data.checks(service)
        episodes = data.episodes(service, limit=SPANS).items
    except PlatformError as exc:
        message = empty(exc.message)
        return message, message, message, exc.message
    if not checks:
        waiting = empty("no checks yet: monitoring_api checks every MONITORING_CHECK_INTERVAL_SECONDS")
        return waiting, waiting, waiting, ""
    dataset = data.dataset(checks[-1].dataset)
    task, target = (dataset.task, dataset.target) if dataset else (Task.regression, "the target")
    now = datetime.now(UTC)
    return (drift_figure(checks, episodes, now), performance_figure(checks, episodes, task, target, now),
            heat_strip(checks, episodes, now), _decision_line(checks))


@app.callback([Output("challenger", "figure"), Output("challenger-verdict", "children"),
               Output("challenger-panel", "style"), *pace_outputs(CHALLENGER)],
              [*pace_inputs(CHALLENGER), Input("service", "value")])
def challenger_panel(n: int | None, _watchdog: int | None, service: str | None) -> tuple[go.Figure, str,
                                                                                         dict[str, str], int, int, int]:
    started = time.perf_counter()
    return *_challenger_panel(service), *paced_since(n, started)


def _challenger_panel(service: str | None) -> tuple[go.Figure, str, dict[str, str]]:
    hidden = {"display": "none"}
    if not service:
        return empty("no service"), "", hidden
    found = next((s for s in data.services() if s.name == service), None)
    try:
        points = data.challenger_history(service).points
    except PlatformError as exc:
        return empty(exc.message), exc.message, {} if found and found.challenger else hidden
    if not panel_shown(found.challenger if found else None, points):
        return empty("no challenger"), "", hidden
    return challenger_figure(points), verdict_line(points[-1]) if points else "", {}


@app.callback(Output("episodes-offset", "data"),
              [Input("episodes-prev", "n_clicks"), Input("episodes-next", "n_clicks"), Input("service", "value")],
              [State("episodes-offset", "data"), State("episodes-total", "data")])
def _page(_: int, __: int, ___: str | None, offset: int, total: int) -> int:
    # django-plotly-dash sets dash.callback_context per call (an import of the name would be stale).
    triggered = dash.callback_context.triggered
    prop = triggered[0]["prop_id"] if triggered else ""
    if prop.startswith("episodes-prev"):
        return page_offset(offset or 0, -1, total or 0)
    if prop.startswith("episodes-next"):
        return page_offset(offset or 0, 1, total or 0)
    return 0  # another service: its newest episodes


@app.callback([Output("episodes", "children"), Output("episodes-page", "children"),
               Output("episodes-prev", "disabled"), Output("episodes-next", "disabled"),
               Output("episodes-total", "data"), *pace_outputs(EPISODES)],
              [*pace_inputs(EPISODES), Input("service", "value"), Input("episodes-offset", "data")])
def episodes_panel(n: int | None, _watchdog: int | None, service: str | None,
                   offset: int | None) -> tuple[html.Table | str, str, bool, bool, int, int, int, int]:
    started = time.perf_counter()
    return *_episodes_panel(service, offset or 0), *paced_since(n, started)


def _episodes_panel(service: str | None, offset: int) -> tuple[html.Table | str, str, bool, bool, int]:
    if not service:
        return "", "", True, True, 0
    try:
        page = data.episodes(service, limit=PAGE_SIZE, offset=offset)
    except PlatformError as exc:
        return exc.message, "", True, True, 0
    previous, following = paging_disabled(offset, page.total)
    return (table([episode_row(e) for e in page.items], "episodes-table"), page_label(page, offset),
            previous, following, page.total)
