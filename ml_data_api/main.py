"""The composition root of ml_data_api: the database, the catalog table, the queue_manager client and
the dataset-events listener are made here once and closed on shutdown."""

from __future__ import annotations

from contextlib import AsyncExitStack

from fastapi import FastAPI

from conveyor.api.app import create_service_app
from conveyor.clients import QueueManagerClient
from conveyor.pg import Database
from conveyor.tables import StartupTables
from ml_data_api.catalog import CATALOG_DDL, Catalog
from ml_data_api.dataset_events import DatasetEvents
from ml_data_api.routes import datasets, labels, legacy, rows
from ml_data_api.settings import Settings, load_settings
from ml_data_api.vanished_tables import install_vanished_tables_handler

QUEUE_MANAGER_TIMEOUT = 10.0


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    db = Database(settings.database_url, settings.pool_size)
    catalog_table = StartupTables(db, "dataset catalog", CATALOG_DDL)

    async def startup(app: FastAPI, resources: AsyncExitStack) -> None:
        # Closed in reverse: the listener stops before its client.
        resources.callback(db.close)
        await resources.enter_async_context(catalog_table)
        queue_manager = None
        if settings.queue_manager_url:
            queue_manager = QueueManagerClient(settings.queue_manager_url, settings.api_token,
                                               timeout=QUEUE_MANAGER_TIMEOUT)
            resources.push_async_callback(queue_manager.aclose)
        app.state.catalog = Catalog(db, queue_manager)
        # Without a queue_manager there is no owner whose deletions to follow.
        if queue_manager is not None and settings.amqp_url:
            app.state.dataset_events = DatasetEvents(settings, app.state.catalog, queue_manager)
            app.state.dataset_events.start()
            resources.push_async_callback(app.state.dataset_events.close)

    app = create_service_app(
        service="ml_data_api",
        title="Conveyor ml_data_api",
        description="Typed tables of training, testing and production rows per dataset.",
        settings=settings,
        ready_checks={"postgresql": catalog_table.ready},
        startup=startup,
    )
    install_vanished_tables_handler(app)
    app.state.settings = settings
    app.state.db = db
    for module in (datasets, rows, labels, legacy):
        app.include_router(module.router)
    return app
