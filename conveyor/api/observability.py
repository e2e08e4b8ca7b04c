"""/health, /ready and /metrics for every HTTP service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel

ReadyCheck = Callable[[], Awaitable[None]]


class Health(BaseModel):
    status: str
    service: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


def install_observability(
    app: FastAPI, service: str, ready_checks: dict[str, ReadyCheck], registry: CollectorRegistry
) -> None:
    requests = Counter(
        "http_requests_total",
        "HTTP requests by route, method and status",
        ["route", "method", "status"],
        registry=registry,
    )
    latency = Histogram(
        "http_request_duration_seconds",
        "HTTP request latency by route",
        ["route", "method"],
        registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    )

    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        latency.labels(path, request.method).observe(time.perf_counter() - start)
        requests.labels(path, request.method, str(response.status_code)).inc()
        return response

    router = APIRouter(tags=["operations"])

    @router.get("/health", response_model=Health)
    async def health() -> Health:
        return Health(status="ok", service=service)

    @router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
    async def ready() -> Response:
        results: dict[str, str] = {}
        ok = True
        for name, check in ready_checks.items():
            try:
                await asyncio.wait_for(check(), timeout=3)
                results[name] = "ok"
            except Exception as exc:  # a store being down is the answer, not an error
                ok = False
                results[name] = f"unreachable: {type(exc).__name__}: {exc}"[:300]
        body = Readiness(status="ready" if ok else "not ready", checks=results)
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
