"""Typed dependencies of the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from conveyor.clients import MLDataClient, QueueManagerClient
from retraining_api.models_cache import ModelCache
from retraining_api.settings import Settings
from retraining_api.store import RunStore


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> RunStore:
    return request.app.state.store


def get_models(request: Request) -> ModelCache:
    return request.app.state.models


async def get_qm(request: Request) -> AsyncIterator[QueueManagerClient]:
    s: Settings = request.app.state.settings
    async with QueueManagerClient(s.queue_manager_url, s.api_token, timeout=60) as qm:
        yield qm


async def get_ml(request: Request) -> AsyncIterator[MLDataClient]:
    s: Settings = request.app.state.settings
    async with MLDataClient(s.ml_data_api_url, s.api_token, timeout=120) as ml:
        yield ml


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[RunStore, Depends(get_store)]
ModelsDep = Annotated[ModelCache, Depends(get_models)]
QueueManagerDep = Annotated[QueueManagerClient, Depends(get_qm)]
MLDataDep = Annotated[MLDataClient, Depends(get_ml)]
