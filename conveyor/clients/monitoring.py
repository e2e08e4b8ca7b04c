"""Client of monitoring_api: Evidently reports (JSON or HTML), scheduled checks, alerts, episodes, calibration,
champion against challenger."""

from __future__ import annotations

from datetime import datetime

from conveyor.clients.base import BaseClient, part
from conveyor.schemas.challenger import ChallengerComparison, ChallengerSeries
from conveyor.schemas.monitoring import (
    Alert,
    CalibrationOut,
    CheckPoint,
    CheckRun,
    Episode,
    EpisodePage,
    EpisodeStatus,
    Format,
    ReportKind,
    ReportOut,
    ReportQuery,
)

MONITORING = "/monitoring_api"


class MonitoringClient(BaseClient):
    async def report(self, kind: ReportKind, query: ReportQuery) -> ReportOut:
        params = query.model_copy(update={"format": Format.json}).model_dump(mode="json", exclude_none=True)
        return ReportOut(**await self.json("GET", f"{MONITORING}/{part(kind.value)}", params=params))

    async def report_html(self, kind: ReportKind, query: ReportQuery) -> str:
        """Evidently's own HTML page of the report."""
        params = query.model_copy(update={"format": Format.html}).model_dump(mode="json", exclude_none=True)
        response = await self.request("GET", f"{MONITORING}/{part(kind.value)}", params=params)
        return response.text

    async def run_check(self, service: str) -> CheckRun:
        return CheckRun(**await self.json("POST", f"{MONITORING}/checks/run", params={"service": service}))

    async def checks(self, service: str | None = None, start: datetime | None = None, end: datetime | None = None,
                     limit: int | None = None) -> list[CheckPoint]:
        params = {"service": service, "start": start, "end": end, "limit": limit}
        return [CheckPoint(**c) for c in await self.json("GET", f"{MONITORING}/checks", params=params)]

    async def alerts(self, service: str | None = None, kind: str | None = None, start: datetime | None = None,
                     end: datetime | None = None, limit: int | None = None) -> list[Alert]:
        params = {"service": service, "kind": kind, "start": start, "end": end, "limit": limit}
        return [Alert(**a) for a in await self.json("GET", f"{MONITORING}/alerts", params=params)]

    async def episodes(self, service: str | None = None, kind: str | None = None,
                       status: EpisodeStatus | None = None, limit: int | None = None,
                       offset: int | None = None) -> EpisodePage:
        """Alert episodes, newest first (`total` counts them all, `items` is the page)."""
        params = {"service": service, "kind": kind, "status": status and status.value, "limit": limit,
                  "offset": offset}
        return EpisodePage(**await self.json("GET", f"{MONITORING}/episodes", params=params))

    async def episode(self, episode_id: int) -> Episode:
        return Episode(**await self.json("GET", f"{MONITORING}/episodes/{part(episode_id)}"))

    async def calibration(self, dataset: str | None = None, service: str | None = None,
                          window_rows: int | None = None) -> CalibrationOut:
        """The drift thresholds the checks of `service` (or of `dataset`) use; computed on first use."""
        params = {"dataset": dataset, "service": service, "window_rows": window_rows}
        return CalibrationOut(**await self.json("GET", f"{MONITORING}/calibration", params=params))

    async def challenger(self, service: str, current_rows: int | None = None, current_hours: float | None = None,
                         current_start: datetime | None = None,
                         current_end: datetime | None = None) -> ChallengerComparison:
        """The service's champion against its challenger on a window of its production rows (default: its
        latest MONITORING_CHALLENGER_WINDOW_ROWS); APIError 409 when it has no challenger."""
        params = {"service": service, "current_rows": current_rows, "current_hours": current_hours,
                  "current_start": current_start, "current_end": current_end}
        return ChallengerComparison(**await self.json("GET", f"{MONITORING}/challenger", params=params))

    async def challenger_history(self, service: str, limit: int | None = None, start: datetime | None = None,
                                 end: datetime | None = None) -> ChallengerSeries:
        """The scheduled comparisons of the service, oldest first."""
        params = {"service": service, "limit": limit, "start": start, "end": end}
        return ChallengerSeries(**await self.json("GET", f"{MONITORING}/challenger/history", params=params))
