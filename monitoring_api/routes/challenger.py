"""Champion against challenger: a comparison on demand, and the scheduled comparisons as a time series."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from conveyor.api.errors import BadRequest
from conveyor.api.state import from_app_state
from conveyor.schemas.challenger import ChallengerComparison, ChallengerSeries
from conveyor.schemas.monitoring import MAX_HOURS, MAX_ROWS
from conveyor.schemas.names import ResourceName
from conveyor.schemas.safe import PgDatetime
from conveyor.windows import WindowSpec
from monitoring_api.challenger_monitor import ChallengerMonitor
from monitoring_api.challenger_store import ChallengerStore
from monitoring_api.deps import QueueManagerDep
from monitoring_api.routes.checks import registered_service

router = APIRouter(prefix="/monitoring_api", tags=["champion and challenger"])
ChallengersDep = Annotated[ChallengerMonitor, Depends(from_app_state("challengers"))]
ChallengerStoreDep = Annotated[ChallengerStore, Depends(from_app_state("challenger_store"))]


class ChallengerQuery(BaseModel):
    """The service and the window of its production rows, as the reports take it (default: its latest
    MONITORING_CHALLENGER_WINDOW_ROWS rows)."""

    service: ResourceName
    current_rows: int | None = Field(default=None, ge=1, le=MAX_ROWS,
                                     description="the last N production rows of the service")
    current_hours: float | None = Field(default=None, gt=0, le=MAX_HOURS,
                                        description="its production rows of the last H hours")
    current_start: PgDatetime | None = None
    current_end: PgDatetime | None = None

    def window(self, default_rows: int) -> WindowSpec:
        if self.current_rows is not None and (self.current_hours is not None or self.current_start
                                              or self.current_end):
            raise BadRequest("give the window as current_rows, or current_hours, or current_start/current_end")
        if self.current_hours is not None and self.current_start is not None:
            raise BadRequest("give current_hours or current_start, not both")
        start = datetime.now(UTC) - timedelta(hours=self.current_hours) if self.current_hours else self.current_start
        rows = self.current_rows
        if rows is None and start is None and self.current_end is None:
            rows = default_rows
        return WindowSpec("production", start=start, end=self.current_end, last=rows, service=self.service)


@router.get("/challenger", response_model=ChallengerComparison)
async def compare_challenger(query: Annotated[ChallengerQuery, Query()], challengers: ChallengersDep,
                             qm: QueueManagerDep) -> ChallengerComparison:
    """Per model: rows, labelled rows, metrics; the difference with its interval; the verdict. 404 for an
    unknown service, 409 for one without a challenger."""
    window = query.window(challengers.settings.challenger_window_rows)
    return await challengers.compare(await registered_service(qm, query.service), window)


@router.get("/challenger/history", response_model=ChallengerSeries)
async def challenger_history(
    store: ChallengerStoreDep, qm: QueueManagerDep, service: Annotated[ResourceName, Query()],
    start: PgDatetime | None = None, end: PgDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> ChallengerSeries:
    """The scheduled comparisons of `service`, oldest first (the latest `limit` of [start, end))."""
    points = await asyncio.to_thread(store.points, service, start, end, limit)
    if not points:  # a name nobody knows is a mistake to say so; a known service may have no points yet
        await registered_service(qm, service)
    return ChallengerSeries(service=service, points=points)
