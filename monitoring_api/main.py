"""The composition root of monitoring_api."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from conveyor.api.app import create_service_app
from conveyor.events import EventPublisher
from conveyor.pg import Database
from monitoring_api.checks import CheckStore, Monitor
from monitoring_api.routes import checks, reports
from monitoring_api.service import HtmlCache
from monitoring_api.settings import Settings, load_settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    db = Database(settings.database_url, 4)
    store = CheckStore(db)
    events = EventPublisher(settings.amqp_url, settings.events_exchange)
    monitor = Monitor(settings, store, events)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(store.ensure_tables)
        except Exception as exc:  # the database may come up later; /ready says so meanwhile
            log.warning("monitoring tables not ready yet: %s", exc)
        await events.start()
        monitor.start()
        yield
        await monitor.stop()
        await events.close()
        db.close()

    async def postgres_ready() -> None:
        await run_in_threadpool(store.ensure_tables)

    app = create_service_app(
        service="monitoring_api", title="Conveyor monitoring_api",
        description="Data quality, drift and model performance with Evidently; scheduled checks and alerts.",
        api_token=settings.api_token, ready_checks={"postgresql": postgres_ready}, lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.monitor = monitor
    app.state.html_cache = HtmlCache(settings.html_cache_size)
    # Checks and alerts first: /monitoring_api/{kind} would otherwise take their paths.
    for module in (checks, reports):
        app.include_router(module.router)
    return app
