"""Typed dependencies of the routes: what the composition root (`monitoring_api.main`) built once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from conveyor.api.state import from_app_state
from conveyor.clients import MLDataClient, QueueManagerClient
from monitoring_api.check_store import CheckStore
from monitoring_api.checks import Drift, Monitor
from monitoring_api.episodes import EpisodeStore
from monitoring_api.service import HtmlCache
from monitoring_api.settings import Settings

SettingsDep = Annotated[Settings, Depends(from_app_state("settings"))]
StoreDep = Annotated[CheckStore, Depends(from_app_state("store"))]
EpisodesDep = Annotated[EpisodeStore, Depends(from_app_state("episodes"))]
DriftDep = Annotated[Drift, Depends(from_app_state("drift"))]
MonitorDep = Annotated[Monitor, Depends(from_app_state("monitor"))]
CacheDep = Annotated[HtmlCache, Depends(from_app_state("html_cache"))]
QueueManagerDep = Annotated[QueueManagerClient, Depends(from_app_state("queue_manager"))]
MLDataDep = Annotated[MLDataClient, Depends(from_app_state("ml_data"))]
