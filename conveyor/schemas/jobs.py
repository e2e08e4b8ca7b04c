"""Jobs: one per processed message."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from conveyor.schemas.names import refusal
from conveyor.schemas.safe import Int64, JsonObject, PgDatetime, check_json_value


class JobStatus(StrEnum):
    created = "created"
    processing = "processing"
    finished = "finished"
    failed = "failed"


TERMINAL = frozenset({JobStatus.finished, JobStatus.failed})


def _storable(where: str) -> AfterValidator:
    """Any JSON value MongoDB can keep: integers within int64, no NUL in text or keys, at most 32 levels deep."""

    def check(value: Any) -> Any:
        try:
            check_json_value(value, where)
        except ValueError as exc:
            # The field is named by the error's loc already: say where inside it ("at features.t1").
            message = str(exc).removeprefix(where)
            message = f"at {message.lstrip('.')}" if message[:1] in ".[" else message.removeprefix(": ")
            raise refusal("unstorable_value", message) from exc
        return value

    return AfterValidator(check)


Payload = Annotated[Any, _storable("payload")]
Result = Annotated[Any, _storable("result")]


class JobMetadata(BaseModel):
    start: PgDatetime | None = None
    end: PgDatetime | None = None
    elapsed: float | None = Field(default=None, description="seconds")
    routing_key: str | None = None
    worker_id: str | None = None
    extra: JsonObject = Field(default_factory=dict)


class StatusEntry(BaseModel):
    status: JobStatus
    at: datetime


class JobCreate(BaseModel):
    record_id: str = Field(min_length=1, max_length=200)
    service: str
    algorithm_name: str | None = None
    algorithm_version: Int64 | None = None
    algorithm_role: str = Field(default="champion", pattern="^(champion|challenger)$",
                                description="which of the service's models predicted the record")
    payload: Payload = None
    status: JobStatus = JobStatus.created
    result: Result = None
    error: str | None = None
    metadata: JobMetadata = Field(default_factory=JobMetadata)


class Job(JobCreate):
    id: str
    history: list[StatusEntry]
    created_at: datetime
    updated_at: datetime


class JobCreated(Job):
    """A job as answered by a create: `existing` tells a redelivery from a new record."""

    existing: bool = False


class JobsBulkCreate(BaseModel):
    jobs: list[JobCreate] = Field(min_length=1, max_length=10_000)


class JobRef(BaseModel):
    """What a bulk create answers per job: enough to carry on, without echoing payloads."""

    id: str
    record_id: str
    service: str
    status: JobStatus
    error: str | None = None
    existing: bool = False


class JobsBulkCreated(BaseModel):
    jobs: list[JobRef]


class JobUpdate(BaseModel):
    status: JobStatus
    result: Result = None
    error: str | None = None
    metadata: JobMetadata | None = None


class JobUpdateItem(JobUpdate):
    id: str


class JobsBulkUpdate(BaseModel):
    updates: list[JobUpdateItem] = Field(min_length=1, max_length=10_000)


class JobsBulkUpdated(BaseModel):
    matched: int
    modified: int
    missing: list[str] = Field(default_factory=list)


class JobPage(BaseModel):
    total: int
    limit: int
    offset: int
    jobs: list[Job]


class JobStep(StrEnum):
    """The steps a job's history names. A job the worker writes once (POST /queue_manager/jobs/completed) carries
    received, predicted, stored and finished (or received, then failed, for a message that cannot succeed)."""

    created = "created"
    received = "received"
    processing = "processing"
    predicted = "predicted"
    stored = "stored"
    finished = "finished"
    failed = "failed"


class ThroughputPoint(BaseModel):
    minute: datetime
    count: int
    partial: bool = Field(default=False, description="the current minute, still filling: not a drop in throughput")


class LatencyPoint(BaseModel):
    """Job latency percentiles of one minute, in seconds, from the minute's fixed histogram buckets."""

    minute: datetime
    p50: float | None
    p95: float | None
    p99: float | None


class WorkerStats(BaseModel):
    """One worker's jobs in the window (from the per-minute aggregates, not a sample of recent jobs)."""

    worker_id: str
    service: str
    finished: int
    failed: int
    last_at: datetime
    model: str | None = Field(default=None, description="name and version of the model of its latest job")


class LatencyPercentiles(BaseModel):
    p50: float | None
    p95: float | None
    p99: float | None


class JobStats(BaseModel):
    service: str | None
    window_minutes: int
    counts: dict[str, int]
    throughput_per_minute: list[ThroughputPoint]
    latency_seconds: LatencyPercentiles
    latency_per_minute: list[LatencyPoint] = Field(default_factory=list)
    workers: list[WorkerStats] = Field(default_factory=list)
