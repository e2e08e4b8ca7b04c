"""The composition root of monitoring_api: stores, caches and clients are built here once and closed on shutdown."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
from fastapi import FastAPI

from conveyor.api.app import create_service_app
from conveyor.api.store_metrics import serving
from conveyor.clients.peers import PeerClients
from conveyor.events import EventPublisher
from conveyor.pg import Database
from conveyor.tables import StartupTables
from monitoring_api.calibration import CalibrationCache
from monitoring_api.challenger_monitor import ChallengerMonitor
from monitoring_api.challenger_store import CHALLENGER_DDL, ChallengerStore
from monitoring_api.check_store import DDL, CheckStore
from monitoring_api.checks import Drift, Monitor, ReferenceRows
from monitoring_api.episodes import EpisodeStore
from monitoring_api.metrics import monitoring_gauges
from monitoring_api.model_reference import MODEL_REFERENCE_DDL, ModelReferences
from monitoring_api.routes import calibration, challenger, checks, episodes, reports
from monitoring_api.service import HtmlCache
from monitoring_api.settings import Settings, load_settings

WEBHOOK_TIMEOUT = 5.0


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    db = Database(settings.database_url, settings.pool_size)
    tables = StartupTables(db, "monitoring_tables", DDL + MODEL_REFERENCE_DDL + CHALLENGER_DDL)
    episode_store = EpisodeStore(db)
    store = CheckStore(db, episode_store)
    challenger_store = ChallengerStore(db)
    drift = Drift(settings, CalibrationCache(settings.calibration_cache_size), ReferenceRows())

    async def startup(app: FastAPI, resources: AsyncExitStack) -> None:
        resources.callback(db.close)
        await resources.enter_async_context(tables)
        await resources.enter_async_context(serving(monitoring_gauges(db, app.state.metrics_registry)))
        peers = await resources.enter_async_context(PeerClients.open(settings))
        webhook = await resources.enter_async_context(httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT)) \
            if settings.webhook_url else None
        events = EventPublisher(settings.amqp_url, settings.events_exchange)
        await events.start()
        resources.push_async_callback(events.close)
        models = ModelReferences(peers, db, settings.model_reference_cache_size)
        challengers = ChallengerMonitor(settings, challenger_store, peers)
        monitor = Monitor(settings, store, events, peers, drift, models, webhook, challengers)
        monitor.start()
        resources.push_async_callback(monitor.stop)  # first to stop: the scheduler uses all of the above
        app.state.queue_manager = peers.queue_manager
        app.state.ml_data = peers.ml_data
        app.state.monitor = monitor
        app.state.challengers = challengers

    app = create_service_app(
        service="monitoring_api", title="Conveyor monitoring_api",
        description="Data quality, drift and model performance with Evidently; drift thresholds calibrated on the "
                    "reference, performance against the model's own error, alert episodes.",
        settings=settings, ready_checks={"postgresql": tables.ready}, startup=startup,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.episodes = episode_store
    app.state.challenger_store = challenger_store
    app.state.drift = drift
    app.state.html_cache = HtmlCache(settings.html_cache_size)
    # Checks, episodes, calibration and challenger first: /monitoring_api/{kind} would otherwise take their paths.
    for module in (checks, episodes, calibration, challenger, reports):
        app.include_router(module.router)
    return app
