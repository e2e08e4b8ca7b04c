"""The composition root of retraining_api (the HTTP side; runs execute in `retraining_api.executor`).

Stores and clients are built here once and closed on shutdown.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from fastapi import FastAPI

from conveyor.api.app import create_service_app
from conveyor.api.store_metrics import serving
from conveyor.clients.peers import PeerClients
from conveyor.pg import Database
from conveyor.schemas.datasets import Task
from conveyor.tables import StartupTables
from retraining_api.metrics import retraining_gauges
from retraining_api.models_cache import ModelCache
from retraining_api.routes import evaluation, explainers, runs
from retraining_api.settings import Settings, load_settings
from retraining_api.store import DDL, RunStore
from retraining_api.triggers import TriggerListener
from retraining_api.validation import pycaret_models


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    db = Database(settings.database_url, settings.pool_size)
    tables = StartupTables(db, "retraining_tables", DDL)
    store = RunStore(db)

    async def startup(app: FastAPI, resources: AsyncExitStack) -> None:
        resources.callback(db.close)
        await resources.enter_async_context(tables)
        await resources.enter_async_context(serving(retraining_gauges(db, app.state.metrics_registry)))
        peers = await resources.enter_async_context(PeerClients.open(settings))
        triggers = TriggerListener(settings, store, peers.queue_manager)
        triggers.start()
        resources.push_async_callback(triggers.close)  # stops before the client it uses
        app.state.queue_manager = peers.queue_manager
        app.state.ml_data = peers.ml_data
        app.state.triggers = triggers
        if settings.warm_pycaret:
            # PyCaret lists its model ids only after a setup (seconds): done now, not in the first request.
            resources.callback(asyncio.create_task(pycaret_models(Task.regression)).cancel)

    app = create_service_app(
        service="retraining_api", title="Conveyor retraining_api",
        description="Retraining runs with PyCaret in the background, new-against-previous comparison, promotion, "
                    "evaluation of any model version, explainer dashboards.",
        settings=settings, ready_checks={"postgresql": tables.ready}, startup=startup,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.models = ModelCache()
    for module in (runs, evaluation, explainers):
        app.include_router(module.router)
    return app
