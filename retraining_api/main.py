"""The composition root of retraining_api (the HTTP side; runs execute in `retraining_api.executor`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from conveyor.api.app import create_service_app
from conveyor.pg import Database
from conveyor.schemas.datasets import Task
from retraining_api.models_cache import ModelCache
from retraining_api.routes import evaluation, explainers, runs
from retraining_api.settings import Settings, load_settings
from retraining_api.store import RunStore
from retraining_api.triggers import TriggerListener
from retraining_api.validation import pycaret_models

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    db = Database(settings.database_url, 4)
    store = RunStore(db)
    triggers = TriggerListener(settings, store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(store.ensure_tables)
        except Exception as exc:  # the database may come up later; /ready says so meanwhile
            log.warning("retraining tables not ready yet: %s", exc)
        await triggers.start()
        # PyCaret lists its model ids only after a setup (seconds): done now, not in the first request.
        warm = asyncio.create_task(pycaret_models(Task.regression)) if settings.warm_pycaret else None
        yield
        if warm is not None:
            warm.cancel()
        await triggers.close()
        db.close()

    async def postgres_ready() -> None:
        await run_in_threadpool(store.ensure_tables)

    app = create_service_app(
        service="retraining_api", title="Conveyor retraining_api",
        description="Retraining runs with PyCaret in the background, new-against-previous comparison, promotion, "
                    "evaluation of any model version, explainer dashboards.",
        api_token=settings.api_token, ready_checks={"postgresql": postgres_ready}, lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.models = ModelCache()
    app.state.triggers = triggers
    for module in (runs, evaluation, explainers):
        app.include_router(module.router)
    return app
