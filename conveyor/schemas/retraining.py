"""Retraining runs, evaluations and explainer dashboards (retraining_api and its clients)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

from conveyor.schemas.datasets import Task
from conveyor.schemas.names import DatasetName, ResourceName
from conveyor.schemas.safe import PgDatetime

# Model versions and rows are PostgreSQL integers in retraining_api's tables; seeds are numpy's (0..2^32-1).
MAX_VERSION = 2**31 - 1
MAX_SEED = 2**32 - 1


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    finished = "finished"
    failed = "failed"
    waiting_for_labels = "waiting_for_labels"  # queued once enough labelled rows exist (`Run.waiting`)
    cancelled = "cancelled"


class TrainingSource(StrEnum):
    training = "training"
    production = "production"  # labelled production rows only
    training_and_production = "training+production"


class HoldoutSource(StrEnum):
    testing = "testing"
    production = "production"  # the latest labelled production rows


class EvaluateOn(StrEnum):
    training = "training"
    testing = "testing"
    production = "production"


class TrainingData(BaseModel):
    source: TrainingSource = TrainingSource.training
    start: PgDatetime | None = Field(default=None, description="only rows stored at or after this time")
    end: PgDatetime | None = Field(default=None, description="only rows stored before this time")
    production_start: PgDatetime | None = Field(
        default=None, description="only production rows at or after this time; training-split rows are not "
                                  "affected (a triggered run sets it to its episode's start: post-drift rows)")

    @model_validator(mode="after")
    def _ordered(self) -> TrainingData:
        if self.start and self.end and self.start >= self.end:
            raise ValueError("training.start must be before training.end")
        return self


class Holdout(BaseModel):
    source: HoldoutSource = HoldoutSource.testing
    last: int = Field(default=1000, ge=10, le=100_000,
                      description="with source=production: how many of the latest labelled rows")
    start: PgDatetime | None = Field(default=None,
                                     description="with source=production: only rows at or after this time")


class RunCreate(BaseModel):
    dataset: DatasetName
    algorithm: str = Field(min_length=1, max_length=200,
                           description="the model name to retrain; the new model is its next version")
    training: TrainingData = Field(default_factory=TrainingData)
    holdout: Holdout = Field(default_factory=Holdout)
    include: list[str] | None = Field(default=None, description="PyCaret model ids to compare, e.g. ['lr', 'dt']")
    budget_seconds: float | None = Field(default=None, gt=0, le=6 * 3600,
                                         description="time budget of PyCaret's model comparison")
    auto_promote: bool = False
    margin: float = Field(default=0.0, ge=0.0, le=10.0,
                          description="auto_promote: the new model must beat the previous one by this "
                                      "fraction of the previous score on the primary metric")
    new_model: bool = Field(default=False, description="allow a name without versions: train its version 1")
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description="PyCaret's session_id")
    service: ResourceName | None = Field(default=None, description="production rows (training and holdout) only of "
                                                          "this service; none: of every service")
    wait_for_labels: int | None = Field(
        default=None, ge=1, le=1_000_000,
        description="the run waits (status waiting_for_labels) until this many labelled production rows exist "
                    "(of `service`, at or after training.production_start, else training.start), then queues")

    @model_validator(mode="after")
    def _room_to_train(self) -> RunCreate:
        if (self.wait_for_labels is not None and self.training.source is TrainingSource.production
                and self.holdout.source is HoldoutSource.production and self.holdout.last >= self.wait_for_labels):
            raise ValueError(f"holdout.last ({self.holdout.last}) would take all {self.wait_for_labels} labelled "
                             "rows the run waits for and leave none to train on: wait for more, or hold out fewer")
        return self

    def labels_since(self) -> datetime | None:
        """Where the labelled rows a waiting run counts begin."""
        return self.training.production_start or self.training.start


class Waiting(BaseModel):
    """A run waiting for labels: queued once `have` reaches `need`."""

    have: int = Field(description="labelled production rows counted so far")
    need: int
    since: datetime | None = Field(description="rows counted are at or after this time")


class RunProgress(BaseModel):
    stage: str
    percent: float


class Decision(BaseModel):
    auto_promote: bool
    promoted: bool
    reason: str
    metric: str | None = None
    new: float | None = None
    previous: float | None = None
    margin: float | None = None


class Run(BaseModel):
    id: int
    dataset: str
    algorithm: str
    status: RunStatus
    progress: RunProgress
    request: dict[str, Any]
    trigger: dict[str, Any] | None = Field(
        default=None, description='started by an alert: {"event", "service", "alert", "received_at", '
                                  '"episode_id", "episode"}')
    previous_version: int | None = None
    new_version: int | None = None
    comparison: dict[str, Any] | None = Field(
        default=None, description='{"retrained_model_results": {...}, "previous_model_results": {...}}')
    holdout_rows: int | None = None
    training_rows: int | None = None
    decision: Decision | None = None
    promoted: bool = False
    error: str | None = None
    log_tail: list[str] = Field(default_factory=list)
    waiting: Waiting | None = Field(default=None, description="waiting_for_labels (and after): the labelled "
                                                              "rows it waited for")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class RunAccepted(BaseModel):
    id: int
    status: RunStatus
    url: str


class Promotion(BaseModel):
    run_id: int | None = None
    algorithm: str
    version: int
    previous_version: int | None
    services: list[str] = Field(description="services reassigned from the previous version to this one")


class Evaluation(BaseModel):
    model_name: str
    version: int
    evaluate_on: EvaluateOn
    rows: int
    results: dict[str, Any]


class ExplainerStatus(BaseModel):
    key: str
    model_name: str
    version: int
    evaluate_on: EvaluateOn
    rows: int
    status: RunStatus
    error: str | None = None
    url: str


class PyCaretModel(BaseModel):
    id: str
    name: str


class PyCaretModels(BaseModel):
    task: Task
    models: list[PyCaretModel]
