"""Typed dependencies of the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from conveyor.events import EventPublisher
from queue_manager.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_events(request: Request) -> EventPublisher:
    return request.app.state.events


SettingsDep = Annotated[Settings, Depends(get_settings)]
EventsDep = Annotated[EventPublisher, Depends(get_events)]
