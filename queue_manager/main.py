"""The composition root of queue_manager."""

from __future__ import annotations

from contextlib import AsyncExitStack

import mongoengine
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from mongoengine.connection import get_db

from conveyor.api.app import create_service_app
from conveyor.api.store_metrics import serving
from conveyor.events import EventPublisher
from conveyor.startup import StartupStep
from queue_manager import job_minutes, job_stats, jobs_store
from queue_manager.job_retention import PruneTask, Retention
from queue_manager.metrics import queue_manager_gauges
from queue_manager.models import AlgorithmDoc, DatasetDoc, ServiceDoc
from queue_manager.routes import algorithms, datasets, jobs, legacy, root, services
from queue_manager.settings import Settings, load_settings

SERVER_SELECTION_TIMEOUT_MS = 5000


def _connect(settings: Settings) -> None:
    mongoengine.disconnect()
    # A timeout the URI sets wins: keyword options would override it.
    timeout = {} if "serverselectiontimeoutms" in settings.mongodb_uri.lower() else {
        "serverSelectionTimeoutMS": SERVER_SELECTION_TIMEOUT_MS}
    # journal=True: a write is acknowledged once it is in the store's journal. The worker acknowledges a message
    # when its job is written, so a write acknowledged before that (MongoDB's default j:false, up to 100 ms) is
    # lost for good on a crash of the store: conveyor bench faults lost 18 jobs on a kill -9 that way.
    mongoengine.connect(host=settings.mongodb_uri, tz_aware=True, uuidRepresentation="standard", journal=True,
                        **timeout)


def _ensure_indexes() -> None:
    for document in (DatasetDoc, AlgorithmDoc, ServiceDoc):
        document.ensure_indexes()
    jobs_store.ensure_indexes()
    job_stats.ensure_indexes()
    job_minutes.ensure_indexes()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    indexes = StartupStep("ensuring the MongoDB indexes", _ensure_indexes)
    retention = PruneTask(Retention(settings.jobs_retention_days, settings.job_stats_retention_days))

    async def startup(app: FastAPI, resources: AsyncExitStack) -> None:
        _connect(settings)
        resources.callback(mongoengine.disconnect)
        await resources.enter_async_context(indexes)
        await resources.enter_async_context(serving(queue_manager_gauges(app.state.metrics_registry)))
        retention.start()
        resources.push_async_callback(retention.stop)
        await app.state.events.start()
        resources.push_async_callback(app.state.events.close)

    async def mongo_ready() -> None:
        # Reachability only: the indexes are made once, at start-up, never by a probe.
        await run_in_threadpool(lambda: get_db().command("ping"))
        indexes.check_done()

    async def broker_ready() -> None:
        if not app.state.events.connected:
            raise ConnectionError("not connected to the broker (events are not being published)")

    app = create_service_app(
        service="queue_manager",
        title="Conveyor queue_manager",
        description="Registry of datasets, algorithms and services, and the jobs log.",
        settings=settings,
        ready_checks={"mongodb": mongo_ready, "broker": broker_ready},
        startup=startup,
    )
    app.state.settings = settings
    app.state.events = EventPublisher(settings.amqp_url, settings.events_exchange)

    for module in (root, datasets, algorithms, services, jobs, legacy):
        app.include_router(module.router)
    return app
