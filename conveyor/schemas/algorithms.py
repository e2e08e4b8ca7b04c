"""Algorithms (models): named, versioned files with a stage."""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, model_validator

from conveyor.schemas.safe import check_json_value


class Stage(StrEnum):
    staging = "staging"
    production = "production"
    archived = "archived"


class ModelFormat(StrEnum):
    """How a model file is stored: skops (state only, types checked) or pickle (joblib; code run on load)."""

    skops = "skops"
    pickle = "pickle"


METRICS_EXAMPLE = '{"MAE": 0.1}'


def _finite(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} is {value}: JSON has no such number; leave the metric out or send it as text")
    if isinstance(value, dict):
        for key, item in value.items():
            _finite(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _finite(item, f"{where}[{index}]")


def check_metrics(value: dict[str, Any]) -> dict[str, Any]:
    """Metrics both stores and the JSON answers can hold: int64 integers, finite numbers, no NUL, not too deep."""
    check_json_value(value, "metrics")
    _finite(value, "metrics")
    return value


Metrics = Annotated[dict[str, Any], AfterValidator(check_metrics)]


class StageChange(BaseModel):
    stage: Stage
    at: datetime
    by: str = ""
    reason: str = ""


class AlgorithmRef(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    version: int = Field(ge=1)


class StoredFile(BaseModel):
    filename: str
    size: int
    sha256: str


class HoldoutSplit(StrEnum):
    testing = "testing"
    production = "production"


class HoldoutWindow(BaseModel):
    """The rows a version's registered metrics were scored on, so its reference error can be recomputed on them.

    `conveyor train` scores on the whole testing split; a retraining run on production rows of one service
    between two times (the first and last holdout row's timestamps, both included)."""

    split: HoldoutSplit
    service: str | None = Field(default=None, description="production rows of this service (production split)")
    start: datetime | None = Field(default=None, description="first holdout row's timestamp (included)")
    end: datetime | None = Field(default=None, description="last holdout row's timestamp (included)")
    rows: int = Field(ge=1, description="how many rows the metrics were scored on")

    @model_validator(mode="after")
    def _consistent(self) -> HoldoutWindow:
        if self.split is HoldoutSplit.production and not self.service:
            raise ValueError("a production holdout names its service: production rows of every service "
                             "are not the rows a model was scored on")
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(f"the holdout starts ({self.start.isoformat()}) after it ends ({self.end.isoformat()})")
        return self


class Algorithm(BaseModel):
    name: str
    version: int
    dataset: str
    framework: str = ""
    description: str = ""
    metrics: dict[str, Any] = Field(default_factory=dict)
    holdout: HoldoutWindow | None = Field(default=None, description="the rows `metrics` were scored on "
                                                                     "(None: unknown, read as the testing split)")
    format: ModelFormat = Field(default=ModelFormat.pickle, description="how the model file is stored: skops, or "
                                                                        "pickle (joblib), which runs code when loaded")
    stage: Stage
    stage_history: list[StageChange] = Field(default_factory=list)
    file: StoredFile
    config_file: StoredFile | None = None
    created_at: datetime
    created_by: str = ""


class StageUpdate(BaseModel):
    stage: Stage
    reason: str = ""
    by: str = ""
    archive_previous: bool = Field(
        default=True,
        description="when promoting to production, archive the name's other production version",
    )


class AlgorithmPatch(BaseModel):
    """Fields of a version that may change after upload; the file and the stage have their own routes."""

    description: str | None = None
    metrics: Metrics | None = Field(default=None, description="a JSON object, e.g. " + METRICS_EXAMPLE)
    holdout: HoldoutWindow | None = Field(default=None, description="the rows the (new) metrics were scored on")
