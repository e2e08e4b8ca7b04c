"""Services: which model a worker applies to which queue."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.names import ResourceName
from conveyor.schemas.retraining import TrainingData, TrainingSource


class RetrainTrigger(StrEnum):
    drift_detected = "drift_detected"
    performance_degraded = "performance_degraded"


class RetrainingPolicy(BaseModel):
    """Whether monitoring alerts on this service start a retraining run of its model (off by default).

    A triggered run trains on the service's labelled production rows since its alert episode began (plus
    the training split unless `training.source` is production), once `min_labelled_rows` of them exist, and
    scores new and current model on the latest of them, which it never trains on."""

    on: list[RetrainTrigger] = Field(default_factory=list, description="alert kinds that start a run; empty: never")
    training: TrainingData = Field(
        default_factory=lambda: TrainingData(source=TrainingSource.training_and_production),
        description="source: training+production (the training split and the post-drift rows) or production "
                    "(post-drift rows only); start/end, if given, bound both")
    min_labelled_rows: int = Field(
        default=300, ge=20, le=1_000_000,
        description="a triggered run waits (waiting_for_labels) until the service has this many labelled "
                    "production rows since the episode's start")
    holdout_share: float = Field(
        default=0.2, gt=0.0, le=0.5,
        description="a triggered run holds out the latest round(min_labelled_rows x holdout_share) labelled "
                    "post-drift rows (at least 10): both models are scored on them, neither trained on them")
    include: list[str] | None = None
    auto_promote: bool = False
    margin: float = Field(default=0.0, ge=0.0, le=10.0)

    def holdout_rows(self) -> int:
        return max(10, round(self.min_labelled_rows * self.holdout_share))


class ServiceBase(BaseModel):
    dataset: str
    queue: ResourceName
    algorithm: AlgorithmRef | None = None
    challenger: AlgorithmRef | None = None
    challenger_share: float = Field(default=0.0, ge=0.0, le=1.0)
    enabled: bool = True
    payload_key: str = Field(
        default="data", description="key of the positional message form {key: [v1, v2, ...]}"
    )
    description: str = ""
    retraining: RetrainingPolicy = Field(default_factory=RetrainingPolicy)


class ServiceCreate(ServiceBase):
    name: ResourceName


class ServiceUpdate(BaseModel):
    """Partial update: only the fields sent change."""

    dataset: str | None = None
    queue: ResourceName | None = None
    algorithm: AlgorithmRef | None = None
    challenger: AlgorithmRef | None = None
    challenger_share: float | None = Field(default=None, ge=0.0, le=1.0)
    enabled: bool | None = None
    payload_key: str | None = None
    description: str | None = None
    retraining: RetrainingPolicy | None = None


class Service(ServiceCreate):
    assignment_revision: int = Field(
        default=0, description="grows by one at every change of algorithm or challenger"
    )
    created_at: datetime
    updated_at: datetime


class AssignmentEvent(BaseModel):
    """Published on the events exchange whenever a service's assignment changes."""

    event: str = "assignment_changed"
    service: str
    queue: str
    algorithm: AlgorithmRef | None
    challenger: AlgorithmRef | None
    challenger_share: float
    enabled: bool
    assignment_revision: int
    at: datetime
