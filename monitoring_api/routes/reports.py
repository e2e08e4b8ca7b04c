"""Evidently reports of a reference against a current window, as JSON or HTML."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from conveyor.api.errors import BadRequest
from conveyor.schemas.monitoring import Format, ReportKind, ReportOut, ReportQuery
from monitoring_api import service
from monitoring_api.deps import CacheDep, DriftDep, MLDataDep, QueueManagerDep, SettingsDep
from monitoring_api.windows import current_spec, reference_spec

router = APIRouter(prefix="/monitoring_api", tags=["reports"])


@router.get("/{kind}", response_model=ReportOut,
            responses={200: {"description": "JSON (format=json), or Evidently's page (format=html)",
                             "content": {"text/html": {"schema": {"type": "string"}}}}})
async def report(kind: ReportKind, settings: SettingsDep, cache: CacheDep, drift: DriftDep, qm: QueueManagerDep,
                 ml: MLDataDep, query: Annotated[ReportQuery, Query()]) -> Any:
    if query.current_rows is not None and (query.current_hours is not None or query.current_start or query.current_end):
        raise BadRequest("give the current window as current_rows, or current_hours, or current_start/end")
    request = service.ReportRequest(
        kind=kind, dataset=query.dataset, service=query.service,
        reference=reference_spec(query.reference, query.reference_start, query.reference_end, query.service),
        current=current_spec(query.service, query.current_rows, query.current_hours, query.current_start,
                             query.current_end),
        columns=tuple(c.strip() for c in query.columns.split(",") if c.strip()) if query.columns else None,
        html=query.format is Format.html,
    )
    # A drift report decides with the thresholds the checks use: the same cache, statistics and reference rows.
    answer = await service.run(request, qm, ml, settings.sample_cap, cache, calibrations=drift.calibrations,
                               false_alarm=settings.drift_false_alarm, stattests=drift.stattests,
                               reference_rows=settings.reference_rows)
    return HTMLResponse(answer) if isinstance(answer, str) else answer
