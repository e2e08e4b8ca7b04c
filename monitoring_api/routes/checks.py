"""Scheduled checks as a time series, their alerts, and a check run on demand."""

from typing import Annotated

from fastapi import APIRouter, Query

from conveyor.api.errors import NotFound, Unavailable
from conveyor.clients import APIError, APIUnavailable, QueueManagerClient
from conveyor.schemas.monitoring import Alert, CheckPoint, CheckRun
from conveyor.schemas.names import ResourceName
from conveyor.schemas.safe import PgDatetime
from conveyor.schemas.services import Service
from monitoring_api.deps import MonitorDep, QueueManagerDep, StoreDep

router = APIRouter(prefix="/monitoring_api", tags=["checks and alerts"])


async def registered_service(qm: QueueManagerClient, name: str) -> Service:
    """The service as queue_manager has it: 404 when it does not know it, 503 when it cannot be asked."""
    try:
        return await qm.get_service(name)
    except APIError as exc:
        raise NotFound(str(exc.detail)) from exc
    except APIUnavailable as exc:
        raise Unavailable(f"queue_manager is unreachable: {exc}") from exc


@router.post("/checks/run", response_model=CheckRun)
async def run_check(service: Annotated[ResourceName, Query()], monitor: MonitorDep, qm: QueueManagerDep) -> dict:
    return await monitor.check(await registered_service(qm, service))


@router.get("/checks", response_model=list[CheckPoint])
def list_checks(
    store: StoreDep, service: str | None = None, start: PgDatetime | None = None, end: PgDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict]:
    return store.checks(service, start, end, limit)


@router.get("/alerts", response_model=list[Alert])
def list_alerts(
    store: StoreDep, service: str | None = None, kind: str | None = None, start: PgDatetime | None = None,
    end: PgDatetime | None = None, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict]:
    return store.alerts(service, kind, start, end, limit)
