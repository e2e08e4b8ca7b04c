"""Reports, scheduled checks and alerts of monitoring_api, shared by the service and its client."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator

from conveyor.schemas.names import DatasetName, ResourceName
from conveyor.schemas.safe import PgDatetime

# Bounds of the integers and hours a query may give: past them a window means nothing, and an unbounded
# number reached PostgreSQL (bigint) or `timedelta` (OverflowError) as a 500.
MAX_ROWS = 10**9
MAX_HOURS = 1_000_000.0  # about 114 years


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
    dataset: DatasetName
    service: ResourceName | None = Field(default=None, description="production rows of this service")
    reference: Reference = Reference.training
    reference_start: PgDatetime | None = None
    reference_end: PgDatetime | None = None
    current_rows: int | None = Field(default=None, ge=1, le=MAX_ROWS, description="the last N production rows")
    current_hours: float | None = Field(default=None, gt=0, le=MAX_HOURS,
                                        description="production rows of the last H hours")
    current_start: PgDatetime | None = None
    current_end: PgDatetime | None = None
    columns: str | None = Field(default=None, description="comma-separated features (default: all)")
    format: Format = Format.json

    @field_validator("dataset", mode="before")
    @classmethod
    def _dataset_given(cls, value: object) -> object:
        # `dataset=` (empty) is a forgotten name, not a badly spelled one: say which is missing.
        if value == "":
            raise ValueError("a dataset is needed: give dataset=NAME, the dataset whose rows the report reads")
        return value


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
    calibration: ReportCalibration | None = None
    decision: DriftDecision | None = None


class ReportCalibration(BaseModel):
    """`calibration` of a data_drift result: how its thresholds were reached (or why they were not)."""

    status: DriftStatus
    reason: str | None = None
    window_rows: int | None = None
    reference_rows: int | None = None
    false_alarm: float | None = None
    per_feature_alpha: float | None = None
    blocks: int | None = None
    seconds: float | None = None
    method: str | None = None


class Alert(BaseModel):
    """One check over a threshold (the raw per-check series; episodes group consecutive ones)."""

    id: int
    service: str
    at: datetime
    kind: str
    value: float | None
    threshold: float | None
    message: str
    check_id: int | None
    estimated: bool = Field(default=False, description="raised by the performance estimate, not by labels")
    episode_id: int | None = None


class DriftStatus(StrEnum):
    calibrated = "calibrated"  # thresholds calibrated on the reference at this window size: decisions made
    uncalibrated = "uncalibrated"  # the reference is too small at this window size: no decision, never an alert
    no_data = "no_data"  # no current or no reference rows


class FeatureDrift(BaseModel):
    """One feature of a check: Evidently's statistic, the threshold calibrated for it and the verdict."""

    statistic: str = Field(description="Evidently stattest, e.g. wasserstein (normed) or jensenshannon")
    value: float | None
    threshold: float | None = Field(description="calibrated on the reference at the check's window size")
    exceeded: bool


class DriftDecision(BaseModel):
    """How the dataset-level decision was reached."""

    status: DriftStatus
    detected: bool
    reason: str = Field(description="the decision in words, e.g. which features exceeded and the correction used")
    false_alarm: float = Field(description="target probability of a false drift alarm per check")
    per_feature_alpha: float | None = Field(default=None, description="false-alarm level per feature after the "
                                                                      "correction for the number of features tested")
    features_tested: int = 0
    features_exceeded: list[str] = Field(default_factory=list)
    window_rows: int | None = Field(default=None, description="window size the thresholds were calibrated at")
    reference_rows: int | None = None


class Metrics(BaseModel):
    """A task's metrics on a window: MAE/RMSE/R2 for regression, accuracy/F1 for classification."""

    rows: int = 0
    mae: float | None = None
    rmse: float | None = None
    r2: float | None = None
    accuracy: float | None = None
    f1: float | None = None


class ReferenceError(Metrics):
    """The model's own error: its holdout score recorded at registration, or computed once on its holdout."""

    model: str
    version: int
    source: str = Field(description="where the figures come from, in words")


class Estimate(Metrics):
    """Performance estimated from features and predictions alone, before labels arrive."""

    method: str | None = Field(description="DLE (direct loss estimation) or CBPE (confidence-based); None: "
                                           "no estimate, see reason")
    reason: str | None = None


class PerformanceVerdict(BaseModel):
    """One metric compared with the model's reference error."""

    metric: str
    value: float | None
    reference: float | None
    limit: float | None = Field(description="the value past which the check raises performance_degraded")
    degraded: bool
    estimated: bool
    decided: bool = Field(default=True, description="False: no verdict (too few rows, no reference error or no "
                                                    "estimate); `reason` says which")
    reason: str
    bound: float | None = Field(default=None, description="the value's one-sided 95 % bound from batch means over "
                                                          "the window's rows in time order (lower for an error, "
                                                          "upper for a score): degraded when past `limit`")


# One scheduled (or requested) check of a service. mae/rmse/r2 repeat `realized` for older readers.
class CheckPoint(BaseModel):
    id: int
    service: str
    dataset: str
    at: datetime
    rows_current: int
    rows_labeled: int
    drift_share: float | None = Field(description="share of features over their calibrated thresholds")
    dataset_drift: bool | None
    drift: dict[str, FeatureDrift] | None
    drift_decision: DriftDecision | None = None
    target_drift: dict[str, Any] | None
    prediction_drift: dict[str, Any] | None
    mae: float | None
    rmse: float | None
    r2: float | None
    model: str | None = None
    model_version: int | None = None
    realized: Metrics | None = None
    estimated: Estimate | None = None
    reference_error: ReferenceError | None = None
    performance: list[PerformanceVerdict] = Field(default_factory=list)
    rows_other_models: int = Field(default=0, description="rows of the window predicted by another model or version "
                                                          "(an older one, a challenger): left out of `realized` and "
                                                          "`estimated`")

    def drift_scores(self) -> dict[str, float | None]:
        return {name: column.value for name, column in (self.drift or {}).items()}

    def drift_ratios(self) -> dict[str, float | None]:
        """Each feature's statistic over its calibrated threshold (above 1: exceeded)."""
        return {name: (c.value / c.threshold if c.value is not None and c.threshold else None)
                for name, c in (self.drift or {}).items()}


class CheckRun(CheckPoint):
    alerts: list[Alert]


class EpisodeStatus(StrEnum):
    open = "open"
    resolved = "resolved"


class Episode(BaseModel):
    """Consecutive alerting checks of one kind on one service: one alert to act on, not one per check."""

    id: int
    service: str
    dataset: str
    kind: str = Field(description="drift_detected or performance_degraded")
    status: EpisodeStatus
    started_at: datetime
    ended_at: datetime | None = None
    first_check_id: int | None
    last_check_id: int | None
    checks: int = Field(description="alerting checks in the episode")
    quiet_checks: int = Field(default=0, description="consecutive checks under the thresholds since its last "
                                                     "alerting one (MONITORING_EPISODE_CLEAR_CHECKS of them end it)")
    features: list[str] = Field(default_factory=list, description="features that exceeded in any of its checks")
    worst: dict[str, Any] = Field(default_factory=dict,
                                  description="worst values seen: drift share, per-feature ratio, metric values")
    estimated: bool = Field(default=False, description="opened by the performance estimate, not by labels")
    message: str = ""


class EpisodePage(BaseModel):
    total: int
    items: list[Episode]


class CalibrationOut(BaseModel):
    """The drift calibration the checks of a dataset use at one window size."""

    dataset: str
    service: str | None = None
    status: DriftStatus
    reason: str | None = Field(description="uncalibrated: why, in a sentence")
    window_rows: int = Field(description="the window size calibrated at")
    reference_rows: int = Field(description="training rows (the latest, in time order) calibrated on")
    false_alarm: float = Field(description="target probability of a false drift alarm per check")
    per_feature_alpha: float | None = Field(description="false-alarm level per feature after the correction")
    thresholds: dict[str, float] = Field(description="feature -> statistic threshold (exceeded when above)")
    statistics: dict[str, str] = Field(description="feature -> Evidently stattest")
    blocks: int = Field(description="reference windows drawn (contiguous blocks in time order)")
    seconds: float = Field(description="time the calibration took when it was computed")
    method: str = Field(description="the procedure, in a sentence")
