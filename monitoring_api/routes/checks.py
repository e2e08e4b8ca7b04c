from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from conveyor.api.auth import TokenDep
from conveyor.api.errors import NotFound, Unavailable
from conveyor.clients import APIError, APIUnavailable, QueueManagerClient
from monitoring_api.deps import MonitorDep, SettingsDep, StoreDep

router = APIRouter(prefix="/monitoring_api", tags=["checks and alerts"])


class Alert(BaseModel):
    id: int
    service: str
    at: datetime
    kind: str
    value: float | None
    threshold: float | None
    message: str
    check_id: int | None


class CheckPoint(BaseModel):
    id: int
    service: str
    dataset: str
    at: datetime
    rows_current: int
    rows_labeled: int
    drift_share: float | None
    dataset_drift: bool | None
    drift: dict[str, Any] | None
    target_drift: dict[str, Any] | None
    prediction_drift: dict[str, Any] | None
    mae: float | None
    rmse: float | None
    r2: float | None


class CheckRun(CheckPoint):
    alerts: list[Alert]


@router.post("/checks/run", response_model=CheckRun)
async def run_check(_: TokenDep, service: str, monitor: MonitorDep, settings: SettingsDep) -> dict:
    try:
        async with QueueManagerClient(settings.queue_manager_url, settings.api_token) as qm:
            found = await qm.get_service(service)
    except APIError as exc:
        raise NotFound(str(exc.detail)) from exc
    except APIUnavailable as exc:
        raise Unavailable(f"queue_manager is unreachable: {exc}") from exc
    return await monitor.check(found)


@router.get("/checks", response_model=list[CheckPoint])
def list_checks(
    store: StoreDep, service: str | None = None, start: datetime | None = None, end: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict]:
    return store.checks(service, start, end, limit)


@router.get("/alerts", response_model=list[Alert])
def list_alerts(
    store: StoreDep, service: str | None = None, kind: str | None = None, start: datetime | None = None,
    end: datetime | None = None, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict]:
    return store.alerts(service, kind, start, end, limit)
