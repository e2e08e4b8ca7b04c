"""Pipeline map: the platform as a graph, each component's health and live rates, for anyone to read.

Its one callback is paced by its own duration (pacing.py): it waits for its last answer before it asks again."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html
from dash.dependencies import Output
from django.conf import settings
from django_plotly_dash import DjangoDash

from conveyor.clients.rabbitmq_management import QueueDepth, shown
from django_admin import platform
from django_admin.dashboards import data
from django_admin.dashboards.common import STYLE, card, row, table
from django_admin.dashboards.main_figures import HEALTHY_SECONDS, last_minute_count
from django_admin.dashboards.pacing import (
    base_seconds,
    next_refresh,
    pace_inputs,
    pace_outputs,
    pace_values,
    paced_refresh,
)
from django_admin.platform import PlatformError

# (key, label, x, y): the record's way left to right, the model's way back along the bottom.
NODES = [
    ("source", "data source", 0, 1), ("queue", "RabbitMQ queues", 1, 1), ("workers", "workers", 2, 1),
    ("ml", "ml_data_api", 3, 1), ("monitoring", "monitoring_api", 4, 1), ("retraining", "retraining_api", 4, 0),
    ("registry", "queue_manager (registry, jobs)", 2, 0),
]
EDGES = [("source", "queue"), ("queue", "workers"), ("workers", "ml"), ("ml", "monitoring"),
         ("monitoring", "retraining"), ("retraining", "registry"), ("registry", "workers")]
COLORS = {"ok": "#2e7d32", "down": "#c62828", "idle": "#9e9e9e"}

app = DjangoDash("pipeline_map", serve_locally=True)
app.layout = html.Div(style=STYLE, children=[
    *paced_refresh(), row(card(dcc.Graph(id="map", config={"displayModeBar": False}))),
    row(card(html.H4("Components"), html.Div(id="components"))),
])


def _ready(url_key: str) -> tuple[str, str]:
    answer = platform.health(url_key)
    state = "ok" if answer.get("status") in ("ok", "ready") else "down"
    return state, answer.get("error") or ", ".join(f"{k} {v}" for k, v in (answer.get("checks") or {}).items())


def queue_depth() -> tuple[list[QueueDepth] | None, str]:
    """The service queues' depth and consumers from RabbitMQ's management API, or None; and where the map's queue
    figures come from, in words (said plainly when the management API is not enabled or not reachable)."""
    url = str(settings.CONVEYOR.get("RABBITMQ_MANAGEMENT_URL") or "")
    if not url:
        return None, ("RabbitMQ management API not enabled (RABBITMQ_MANAGEMENT_URL is unset): no queue depth or "
                      "consumers; records counted from the jobs of the last 5 min")
    try:
        return platform.rabbitmq_queues(), f"queue depth and consumers from RabbitMQ's management API at {shown(url)}"
    except PlatformError as exc:
        return None, f"{exc.message}: no queue depth or consumers; records counted from the jobs of the last 5 min"


def _queue_rows(queues: list[QueueDepth]) -> list[dict[str, Any]]:
    """One row a service queue: messages waiting with no consumer is where records stop."""
    return [{"component": f"queue {q.name}", "state": "down" if q.messages and not q.consumers else
             ("ok" if q.messages else "idle"),
             "detail": f"{q.messages:,} waiting (ready {q.ready:,}, unacknowledged {q.unacknowledged:,}); "
                       f"{q.consumers} consumers; {q.dead_letters:,} dead letters"} for q in queues]


def status() -> dict[str, dict[str, Any]]:
    """Each component: state (ok, down, idle) and what it is doing; `queues`: one entry a service queue when
    RabbitMQ's management API answers."""
    out: dict[str, dict[str, Any]] = {}
    for key, url_key in (("registry", "QUEUE_MANAGER_URL"), ("ml", "ML_DATA_API_URL"),
                         ("monitoring", "MONITORING_API_URL"), ("retraining", "RETRAINING_API_URL")):
        state, detail = _ready(url_key)
        out[key] = {"state": state, "detail": detail}
    try:
        # The stats answer from queue_manager's per-minute aggregates: no list of recent jobs is read.
        stats = platform.qm(lambda c: c.job_stats(window_minutes=5))
    except PlatformError as exc:
        stats = None
        out["workers"] = {"state": "down", "detail": exc.message}
    if stats is not None:
        now = datetime.now(UTC)
        last_minute = last_minute_count(stats.throughput_per_minute, now)
        healthy = [w for w in stats.workers if (now - w.last_at).total_seconds() < HEALTHY_SECONDS]
        out["workers"] = {"state": "ok" if healthy else "idle",
                          "detail": f"{len(healthy)} of {len(stats.workers)} working; {last_minute} jobs in the "
                                    "last minute"}
        failed = stats.counts.get("failed", 0)
        out["queue"] = {"state": "ok" if last_minute else "idle",
                        "detail": f"{sum(stats.counts.values())} records in 5 min; failed {failed}"}
        out["source"] = {"state": "ok" if last_minute else "idle",
                         "detail": "streaming" if last_minute else "no records in the last minute"}
    queues, source = queue_depth()
    if queues is not None:
        waiting, consumers = sum(q.messages for q in queues), sum(q.consumers for q in queues)
        dead = sum(q.dead_letters for q in queues)
        stuck = [q.name for q in queues if q.messages and not q.consumers]
        out["queue"] = {"state": "down" if stuck else ("ok" if waiting or consumers else "idle"),
                        "detail": f"{waiting:,} waiting in {len(queues)} queues, {consumers} consumers, {dead:,} "
                                  f"dead letters{'; no consumer on ' + ', '.join(stuck) if stuck else ''}; {source}"}
        if "workers" in out:
            out["workers"]["detail"] += f"; {consumers} consumers on the queues"
        out["queues"] = {"rows": _queue_rows(queues)}
    else:
        queue = out.setdefault("queue", {"state": "idle", "detail": "unknown"})
        queue["detail"] = f"{queue['detail']}; {source}"
    counts = data.row_counts()
    if not counts.empty and out["ml"]["state"] == "ok":
        totals = counts.groupby("table")["rows"].sum().to_dict()
        out["ml"]["detail"] = ", ".join(f"{k} {v:,}" for k, v in totals.items())
    if out["retraining"]["state"] == "ok":
        try:
            runs = platform.retraining(lambda c: c.list_runs(limit=100))
            active = sum(r.status.value in ("waiting_for_labels", "queued", "running") for r in runs)
            out["retraining"]["detail"] = f"{active} runs in progress, {len(runs)} recent"
        except PlatformError:
            pass
    return out


def _wrap(text: str, width: int = 26) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) > width:
            lines.append(line)
            line = ""
        line = f"{line} {word}".strip()
    return "<br>".join([*lines, line][:3])


@app.callback([Output("map", "figure"), Output("components", "children"), *pace_outputs()], pace_inputs())
def update(n: int | None, _watchdog: int | None) -> tuple[go.Figure, html.Table, int, int, int]:
    started = time.perf_counter()
    states = status()
    where = {key: (x, y) for key, _, x, y in NODES}
    fig = go.Figure()
    for a, b in EDGES:
        (x0, y0), (x1, y1) = where[a], where[b]
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                           arrowhead=3, arrowsize=1.5, arrowwidth=2, arrowcolor="#90a4ae", standoff=28,
                           startstandoff=28)
    info = [states.get(key, {"state": "idle", "detail": "unknown"}) for key, *_ in NODES]
    fig.add_trace(go.Scatter(
        x=[n[2] for n in NODES], y=[n[3] for n in NODES], mode="markers+text",
        marker={"size": 46, "color": [COLORS[i["state"]] for i in info], "line": {"width": 2, "color": "#fff"}},
        text=[f"<b>{n[1]}</b><br>{_wrap(i['detail'])}" for n, i in zip(NODES, info, strict=True)],
        textposition="bottom center", hoverinfo="text", name="components"))
    fig.update_layout(height=460, showlegend=False, template="plotly_white", margin={"l": 40, "r": 40, "t": 40,
                      "b": 40}, title="Where records go, and where they stop (green ok, grey idle, red down)",
                      xaxis={"visible": False, "range": [-0.6, 4.6]}, yaxis={"visible": False, "range": [-0.7, 1.5]})
    rows = [{"component": n[1], "state": i["state"], "detail": i["detail"]} for n, i in zip(NODES, info, strict=True)]
    rows += states.get("queues", {}).get("rows", [])
    return fig, table(rows, "components-table"), *pace_values(next_refresh(n, time.perf_counter() - started,
                                                                           base_seconds()))
