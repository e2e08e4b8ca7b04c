"""The one way a Conveyor HTTP service is assembled."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from conveyor import __version__
from conveyor.api.errors import install_error_handlers
from conveyor.api.guard import Guard, GuardPolicy
from conveyor.api.observability import ReadyCheck, install_observability
from conveyor.api.openapi import ServiceApp
from conveyor.settings import ServiceSettings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
# Opens what the process needs (stores, clients, listeners) and enters each into the stack,
# which closes them in reverse order on shutdown: what uses a client stops before the client.
Startup = Callable[[FastAPI, AsyncExitStack], Awaitable[None]]


def lifespan_of(startup: Startup) -> Lifespan:
    """The lifespan that runs `startup` when the service starts and closes what it opened when it stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as resources:
            await startup(app, resources)
            yield

    return lifespan


def create_service_app(
    *,
    service: str,
    title: str,
    settings: ServiceSettings,
    ready_checks: dict[str, ReadyCheck],
    startup: Startup | None = None,
    description: str = "",
) -> FastAPI:
    """A service app; `startup` opens its resources when it starts, and they are closed when it stops."""
    lifespan = lifespan_of(startup) if startup is not None else None
    app = ServiceApp(title=title, version=__version__, description=description, lifespan=lifespan)
    app.metrics_open = not settings.metrics_require_token
    # A registry per app keeps several apps in one test process from colliding.
    app.state.metrics_registry = CollectorRegistry()
    install_error_handlers(app)
    # Added before the metrics middleware, so that it runs inside it: refused requests are counted too.
    app.add_middleware(Guard, policy=GuardPolicy(
        write_token=settings.api_token, read_token=settings.api_read_token,
        metrics_open=not settings.metrics_require_token,
        max_body_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes))
    install_observability(app, service, ready_checks, app.state.metrics_registry)
    return app
