"""Real-time monitoring: monitoring_api's scheduled checks as time series, alerts marked on them."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html
from dash.dependencies import Input, Output
from django_plotly_dash import DjangoDash

from conveyor.schemas.monitoring import Alert
from django_admin.dashboards import data
from django_admin.dashboards.common import STYLE, card, empty, refresh, row, service_options, styled, table
from django_admin.platform import PlatformError

app = DjangoDash("monitoring", serve_locally=True)
app.layout = html.Div(style=STYLE, children=[
    refresh(),
    html.Div([html.Label("Service "), dcc.Dropdown(id="service", clearable=False,
                                                   style={"width": "360px", "display": "inline-block"})]),
    row(card(dcc.Graph(id="drift-share")), card(dcc.Graph(id="performance"))),
    row(card(dcc.Graph(id="feature-drift"))),
    row(card(html.H4("Alerts"), html.Div(id="alerts"))),
])


@app.callback([Output("service", "options"), Output("service", "value")],
              [Input("refresh", "n_intervals"), Input("service", "value")])
def _services(_: int, current: str | None) -> tuple[list[dict[str, str]], str | None]:
    services = data.services()
    names = [s.name for s in services]
    return service_options(services), current if current in names else (names[0] if names else None)


def _alert_marks(fig: go.Figure, alerts: list[Alert], kind: str) -> None:
    chosen = [a for a in alerts if a.kind == kind]
    if chosen:
        fig.add_trace(go.Scatter(
            x=[a.at for a in chosen], y=[a.value for a in chosen], mode="markers",
            name=f"alert: {kind}", marker={"symbol": "x", "size": 12, "color": "#c62828"},
            text=[a.message for a in chosen], hoverinfo="text+x"))


@app.callback([Output("drift-share", "figure"), Output("performance", "figure"), Output("feature-drift", "figure"),
               Output("alerts", "children")],
              [Input("refresh", "n_intervals"), Input("service", "value")])
def _update(_: int, service: str | None) -> tuple[go.Figure, go.Figure, go.Figure, html.Table | str]:
    if not service:
        nothing = empty("no service")
        return nothing, nothing, nothing, ""
    try:
        checks, alerts = data.checks(service), data.alerts(service)
    except PlatformError as exc:
        message = empty(exc.message)
        return message, message, message, exc.message
    if not checks:
        waiting = empty("no checks yet: monitoring_api checks every CHECK_INTERVAL_SECONDS")
        return waiting, waiting, waiting, table([])
    frame = pd.DataFrame([c.model_dump() for c in checks])
    share = go.Figure(go.Scatter(x=frame["at"], y=frame["drift_share"], mode="lines+markers", name="drift share"))
    _alert_marks(share, alerts, "drift_detected")
    share = styled(share, "Share of drifted features per check")
    performance = go.Figure([go.Scatter(x=frame["at"], y=frame[m], mode="lines+markers", name=m.upper())
                             for m in ("mae", "rmse") if frame[m].notna().any()])
    _alert_marks(performance, alerts, "performance_degraded")
    performance = styled(performance, "Performance on labelled rows per check") if performance.data \
        else empty("no labelled rows in the checked windows yet")
    per_feature = go.Figure()
    drift_rows = [(c.at, name, score) for c in checks for name, score in c.drift_scores().items()]
    if drift_rows:
        long = pd.DataFrame(drift_rows, columns=["at", "feature", "score"])
        for feature, group in long.groupby("feature"):
            per_feature.add_trace(go.Scatter(x=group["at"], y=group["score"], mode="lines", name=str(feature)))
        per_feature = styled(per_feature, "Drift score per feature", 380)
    else:
        per_feature = empty("no drift figures yet")
    recent = [{"at": a.at.strftime("%Y-%m-%d %H:%M:%S"), "kind": a.kind, "message": a.message}
              for a in reversed(alerts[-20:])]
    return share, performance, per_feature, table(recent, "alerts-table")
