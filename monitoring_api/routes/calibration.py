"""The drift calibration the checks use: thresholds per feature, how they were drawn, or why there are none."""

from typing import Annotated

from fastapi import APIRouter, Query

from conveyor.api.errors import Unprocessable
from conveyor.schemas.monitoring import MAX_ROWS, CalibrationOut
from conveyor.schemas.names import DatasetName, ResourceName
from monitoring_api.deps import MonitorDep, QueueManagerDep
from monitoring_api.routes.checks import registered_service

router = APIRouter(prefix="/monitoring_api", tags=["checks and alerts"])


@router.get("/calibration", response_model=CalibrationOut)
async def calibration(
    monitor: MonitorDep, qm: QueueManagerDep, dataset: Annotated[DatasetName | None, Query()] = None,
    service: Annotated[ResourceName | None, Query()] = None,
    window_rows: Annotated[int | None, Query(ge=1, le=MAX_ROWS, description="default: the rows a check of the service "
                                                               "reads, at most MONITORING_CHECK_WINDOW_ROWS")] = None,
) -> CalibrationOut:
    """Computed on first use (seconds), then kept for every check of the same reference and window size."""
    if dataset is None and service is None:
        raise Unprocessable("give dataset= (a dataset's calibration) or service= (the one its checks use)")
    found = await registered_service(qm, service) if service is not None else None
    if found is not None and dataset is not None and found.dataset != dataset:
        raise Unprocessable(f"service {service!r} serves dataset {found.dataset!r}, not {dataset!r}: "
                            "leave dataset out or give the service's")
    return await monitor.calibration(found, dataset or (found.dataset if found else ""), window_rows)
