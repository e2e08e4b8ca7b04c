"""The composition root of ml_data_api."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from conveyor.api.app import create_service_app
from conveyor.pg import Database
from ml_data_api.catalog import Catalog
from ml_data_api.routes import datasets, labels, legacy, rows
from ml_data_api.settings import Settings, load_settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    db = Database(settings.database_url, settings.pool_size)
    catalog = Catalog(db, settings.queue_manager_url, settings.api_token)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(catalog.ensure_table)
        except Exception as exc:  # the database may come up later; /ready says so meanwhile
            log.warning("catalog not ready yet: %s", exc)
        yield
        db.close()

    async def postgres_ready() -> None:
        await run_in_threadpool(db.ping)
        await run_in_threadpool(catalog.ensure_table)

    app = create_service_app(
        service="ml_data_api",
        title="Conveyor ml_data_api",
        description="Typed tables of training, testing and production rows per dataset.",
        api_token=settings.api_token,
        ready_checks={"postgresql": postgres_ready},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.catalog = catalog
    for module in (datasets, rows, labels, legacy):
        app.include_router(module.router)
    return app
