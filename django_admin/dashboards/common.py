"""Shared look of the dashboards: figures with a message when there is nothing to draw yet."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import dcc, html
from django.conf import settings

STYLE = {"fontFamily": "system-ui, sans-serif", "padding": "8px"}
CARD = {"border": "1px solid #ddd", "borderRadius": "6px", "padding": "8px", "margin": "6px",
        "flex": "1 1 460px", "minWidth": "380px", "overflowX": "auto"}


def refresh(id_: str = "refresh") -> dcc.Interval:
    return dcc.Interval(id=id_, interval=settings.CONVEYOR["DASHBOARD_REFRESH_SECONDS"] * 1000, n_intervals=0)


def empty(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 14, "color": "#888"})
    fig.update_layout(xaxis={"visible": False}, yaxis={"visible": False}, height=300, margin=_margin())
    return fig


def _margin() -> dict[str, int]:
    return {"l": 50, "r": 20, "t": 40, "b": 80}


def styled(fig: go.Figure, title: str, height: int = 300) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=_margin(), template="plotly_white",
                      legend={"orientation": "h", "yanchor": "top", "y": -0.3})
    return fig


def card(*children: Any) -> html.Div:
    return html.Div(list(children), style=CARD)


def row(*children: Any) -> html.Div:
    return html.Div(list(children), style={"display": "flex", "flexWrap": "wrap"})


def table(rows: list[dict[str, Any]], id_: str | None = None, widths: dict[str, str] | None = None) -> html.Table:
    """Rows as a table. With `widths` (column -> CSS width) the table is laid out fixed to its card: each column
    keeps its share, and a value too long for it ends in an ellipsis, whole in its tooltip."""
    if not rows:
        return html.Table([html.Tr(html.Td("nothing yet"))], id=id_ or "")
    headers = list(rows[0])
    cell: dict[str, str] = {"padding": "4px 8px", "textAlign": "left"}
    if widths:
        cell |= {"overflow": "hidden", "textOverflow": "ellipsis", "whiteSpace": "nowrap"}
    columns = [html.Colgroup([html.Col(style={"width": widths.get(h, "auto")}) for h in headers])] if widths else []
    return html.Table(
        [*columns, html.Thead(html.Tr([html.Th(h, style=cell, title=h) for h in headers]))]
        + [html.Tr([html.Td(str(r[h]), style=cell, title=str(r[h])) for h in headers]) for r in rows],
        id=id_ or "", style={"borderCollapse": "collapse", "width": "100%",
                             **({"tableLayout": "fixed"} if widths else {})})


def service_options(services: list[Any]) -> list[dict[str, str]]:
    return [{"label": s.name, "value": s.name} for s in services]
