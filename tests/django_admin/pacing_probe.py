"""Run by test_dashboard_pacing.py in a process of its own (the admin's Django settings, which other tests of this
folder replace by bare ones): prints, as JSON, each dashboard's intervals and callbacks, and what each refreshing
callback of the monitoring and retraining dashboards answers for its pace when its API is slow."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from fastapi import FastAPI, Request, Response

SLOW_SECONDS = 0.6


def _slow_failing_api() -> FastAPI:
    """A peer that takes SLOW_SECONDS to answer anything with a 503: a slow platform the callbacks cannot use."""
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def anything(path: str, request: Request) -> Response:
        await asyncio.sleep(SLOW_SECONDS)
        return Response(status_code=503, content=f"{request.method} /{path}: busy")

    return app


def _intervals(component: Any) -> list[dict[str, Any]]:
    from dash import dcc

    found = []
    if isinstance(component, dcc.Interval):
        props = component.to_plotly_json()["props"]
        found.append({"id": props["id"], "interval": props["interval"],
                      "max_intervals": props.get("max_intervals", -1)})
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and hasattr(child, "to_plotly_json"):
            found += _intervals(child)
    return found


def _structure(app: Any) -> dict[str, Any]:
    callbacks = [{"name": fn.__name__, "inputs": [str(i) for i in spec["inputs"]],
                  "outputs": [str(o) for o in (spec["output"] if isinstance(spec["output"], list)
                                               else [spec["output"]])]}
                 for spec, fn in app._callback_sets]
    return {"intervals": _intervals(app.layout), "callbacks": callbacks}


def main() -> None:
    sys.path.insert(0, os.getcwd())
    from tests.support import serve

    with serve(_slow_failing_api()) as url:
        for name in ("QUEUE_MANAGER", "ML_DATA_API", "MONITORING_API", "RETRAINING_API"):
            os.environ[f"{name}_URL"] = url
        os.environ["ADMIN_DASHBOARD_REFRESH_SECONDS"] = "1"
        os.environ["DJANGO_SETTINGS_MODULE"] = "django_admin.settings"
        import django

        django.setup()
        from django_admin.dashboards import main as main_dashboard
        from django_admin.dashboards import monitoring, pipeline, retraining

        calls = {
            "monitoring.services": lambda: monitoring.services(4, 0, None),
            "monitoring.checks_panel": lambda: monitoring.checks_panel(4, 0, "s"),
            "monitoring.challenger_panel": lambda: monitoring.challenger_panel(4, 0, "s"),
            "monitoring.episodes_panel": lambda: monitoring.episodes_panel(4, 0, "s", 0),
            "retraining.models": lambda: retraining.models(4, 0, None),
            "retraining.refresh_runs": lambda: retraining.refresh_runs(4, None, False),
            "retraining.run_panel": lambda: retraining.run_panel(4, 0, 7, None, None),
        }
        paces = {}
        for name, call in calls.items():
            started = time.perf_counter()
            answer = call()
            paces[name] = {"took_ms": (time.perf_counter() - started) * 1000, "pace": list(answer[-3:])}
        print(json.dumps({
            "slow_ms": SLOW_SECONDS * 1000,
            "apps": {name: _structure(module.app) for name, module in (
                ("main", main_dashboard), ("pipeline", pipeline), ("monitoring", monitoring),
                ("retraining", retraining))},
            "paces": paces,
        }))


if __name__ == "__main__":
    main()
