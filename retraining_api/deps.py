"""Typed dependencies of the routes: what the composition root (`retraining_api.main`) built once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from conveyor.api.state import from_app_state
from conveyor.clients import MLDataClient, QueueManagerClient
from retraining_api.models_cache import ModelCache
from retraining_api.settings import Settings
from retraining_api.store import RunStore

SettingsDep = Annotated[Settings, Depends(from_app_state("settings"))]
StoreDep = Annotated[RunStore, Depends(from_app_state("store"))]
ModelsDep = Annotated[ModelCache, Depends(from_app_state("models"))]
QueueManagerDep = Annotated[QueueManagerClient, Depends(from_app_state("queue_manager"))]
MLDataDep = Annotated[MLDataClient, Depends(from_app_state("ml_data"))]
