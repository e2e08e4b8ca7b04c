from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from conveyor.api.errors import BadRequest
from conveyor.clients import MLDataClient, QueueManagerClient
from monitoring_api import service
from monitoring_api.deps import CacheDep, SettingsDep
from monitoring_api.reports import ReportKind
from monitoring_api.windows import Reference, current_spec, reference_spec

router = APIRouter(prefix="/monitoring_api", tags=["reports"])


class Format(StrEnum):
    json = "json"
    html = "html"


class WindowInfo(BaseModel):
    split: str
    rows: int
    total: int
    sampled: bool
    start: datetime | None = None
    end: datetime | None = None
    last: int | None = None


class ReportOut(BaseModel):
    kind: str
    dataset: str
    service: str | None
    reference: WindowInfo | None
    current: WindowInfo
    sample_cap: int
    result: dict[str, Any]


@router.get("/{kind}", response_model=ReportOut, responses={200: {"content": {"text/html": {}}}})
async def report(
    kind: ReportKind,
    settings: SettingsDep,
    cache: CacheDep,
    dataset: str,
    service_name: Annotated[str | None, Query(alias="service", description="production rows of this service")] = None,
    reference: Reference = Reference.training,
    reference_start: datetime | None = None,
    reference_end: datetime | None = None,
    current_rows: Annotated[int | None, Query(ge=1, description="the last N production rows")] = None,
    current_hours: Annotated[float | None, Query(gt=0, description="production rows of the last H hours")] = None,
    current_start: datetime | None = None,
    current_end: datetime | None = None,
    columns: Annotated[str | None, Query(description="comma-separated features (default: all)")] = None,
    format: Format = Format.json,
) -> Any:
    if current_rows is not None and (current_hours is not None or current_start or current_end):
        raise BadRequest("give the current window as current_rows, or current_hours, or current_start/end")
    request = service.ReportRequest(
        kind=kind, dataset=dataset, service=service_name,
        reference=reference_spec(reference, reference_start, reference_end, service_name),
        current=current_spec(service_name, current_rows, current_hours, current_start, current_end),
        columns=tuple(c.strip() for c in columns.split(",") if c.strip()) if columns else None,
        html=format is Format.html,
    )
    async with QueueManagerClient(settings.queue_manager_url, settings.api_token) as qm, \
            MLDataClient(settings.ml_data_api_url, settings.api_token, timeout=120) as ml:
        answer = await service.run(request, qm, ml, settings.sample_cap, cache)
    return HTMLResponse(answer) if isinstance(answer, str) else answer
