"""Typed dependencies of the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from monitoring_api.checks import CheckStore, Monitor
from monitoring_api.service import HtmlCache
from monitoring_api.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> CheckStore:
    return request.app.state.store


def get_monitor(request: Request) -> Monitor:
    return request.app.state.monitor


def get_cache(request: Request) -> HtmlCache:
    return request.app.state.html_cache


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[CheckStore, Depends(get_store)]
MonitorDep = Annotated[Monitor, Depends(get_monitor)]
CacheDep = Annotated[HtmlCache, Depends(get_cache)]
