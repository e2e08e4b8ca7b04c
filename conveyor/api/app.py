"""The one way a Conveyor HTTP service is assembled."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from conveyor import __version__
from conveyor.api.errors import install_error_handlers
from conveyor.api.observability import ReadyCheck, install_observability

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_service_app(
    *,
    service: str,
    title: str,
    api_token: str,
    ready_checks: dict[str, ReadyCheck],
    lifespan: Lifespan | None = None,
    description: str = "",
) -> FastAPI:
    app = FastAPI(title=title, version=__version__, description=description, lifespan=lifespan)
    app.state.api_token = api_token
    # A registry per app keeps several apps in one test process from colliding.
    app.state.metrics_registry = CollectorRegistry()
    install_error_handlers(app)
    install_observability(app, service, ready_checks, app.state.metrics_registry)
    return app
