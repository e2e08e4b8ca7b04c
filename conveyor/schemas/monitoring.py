"""Reports, scheduled checks and alerts of monitoring_api, shared by the service and its client."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class ReportKind(StrEnum):
    data_quality = "data_quality"
    data_drift = "data_drift"
    target_drift = "target_drift"
    regression_performance = "regression_performance"
    classification_performance = "classification_performance"


class Reference(StrEnum):
    training = "training"
    testing = "testing"
    window = "window"


class Format(StrEnum):
    json = "json"
    html = "html"


# The query of GET /monitoring_api/{kind}: which rows are compared with which, and what is answered.
class ReportQuery(BaseModel):
    dataset: str
    service: str | None = Field(default=None, description="production rows of this service")
    reference: Reference = Reference.training
    reference_start: datetime | None = None
    reference_end: datetime | None = None
    current_rows: int | None = Field(default=None, ge=1, description="the last N production rows")
    current_hours: float | None = Field(default=None, gt=0, description="production rows of the last H hours")
    current_start: datetime | None = None
    current_end: datetime | None = None
    columns: str | None = Field(default=None, description="comma-separated features (default: all)")
    format: Format = Format.json


class WindowInfo(BaseModel):
    split: str
    rows: int
    total: int
    sampled: bool
    start: datetime | None = None
    end: datetime | None = None
    last: int | None = None


# A JSON report; `result`'s shape depends on the kind (a data drift one reads as `DataDrift`).
class ReportOut(BaseModel):
    kind: str
    dataset: str
    service: str | None
    reference: WindowInfo | None
    current: WindowInfo
    sample_cap: int
    result: dict[str, Any]


class ColumnDrift(BaseModel):
    """One column of a drift report: Evidently's verdict, its score and the test behind it."""

    detected: bool
    score: float | None
    stattest: str | None = None
    threshold: float | None = None
    column_type: str | None = None


class DataDrift(BaseModel):
    """`result` of a data_drift report."""

    dataset_drift: bool
    share_of_drifted_columns: float
    number_of_drifted_columns: int
    number_of_columns: int
    columns: dict[str, ColumnDrift]


class Alert(BaseModel):
    id: int
    service: str
    at: datetime
    kind: str
    value: float | None
    threshold: float | None
    message: str
    check_id: int | None


# One scheduled (or requested) check of a service; `drift` is {feature: {detected, score}}.
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

    def drift_scores(self) -> dict[str, float | None]:
        return {name: column.get("score") for name, column in (self.drift or {}).items()}


class CheckRun(CheckPoint):
    alerts: list[Alert]
