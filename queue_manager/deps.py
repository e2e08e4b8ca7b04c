"""Typed dependencies of the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from conveyor.api.state import from_app_state
from conveyor.events import EventPublisher
from queue_manager.settings import Settings

SettingsDep = Annotated[Settings, Depends(from_app_state("settings"))]
EventsDep = Annotated[EventPublisher, Depends(from_app_state("events"))]
