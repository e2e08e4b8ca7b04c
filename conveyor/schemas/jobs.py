"""Jobs: one per processed message."""

from __future__ import annotations

import itertools
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, model_validator

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


class StatusEntry(BaseModel):
    status: JobStep  # a JobStatus, or one of the steps of a job written once
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
    step_minutes: int = Field(default=1, description="minutes per throughput and latency point: 1, or 10, 60 or 1440 "
                                                     "for a window that would have more than 60 points")
    since: datetime | None = Field(default=None, description="the first minute counted: the window's first minute, "
                                                             "or the start of the step it falls in")
    counts: dict[str, int]
    throughput_per_minute: list[ThroughputPoint]
    latency_seconds: LatencyPercentiles
    latency_per_minute: list[LatencyPoint] = Field(default_factory=list)
    workers: list[WorkerStats] = Field(default_factory=list)


# Jobs written once, in their final state (POST /queue_manager/jobs/completed): the worker's hot path.
MAX_COMPLETED_JOBS = 10_000
_JOB_ID = re.compile(r"[0-9a-fA-F]{24}")


def _job_id(value: str) -> str:
    if not _JOB_ID.fullmatch(value):
        raise refusal("job_id", f"{value!r} is not a job id: give 24 hexadecimal digits (the worker derives them "
                                "from the service and record_id with conveyor.job_ids.job_id_for)")
    return value.lower()


def _final(value: JobStatus) -> JobStatus:
    if value not in TERMINAL:
        raise refusal("job_status", f"status {value.value!r} is not final: a completed job is finished or failed "
                                    "(a job still open is created with POST /queue_manager/jobs/bulk)")
    return value


class CompletedStep(BaseModel):
    status: JobStep
    at: PgDatetime


class JobCompleted(JobCreate):
    """A job written once with its final status and the whole history of what happened to its record."""

    id: Annotated[str, AfterValidator(_job_id)] = Field(description="24 hex digits, chosen by the writer: "
                                                                    "conveyor.job_ids.job_id_for(service, record_id)")
    status: Annotated[JobStatus, AfterValidator(_final)]  # required here, and final
    history: list[CompletedStep] = Field(min_length=1, max_length=len(JobStep),
                                         description="received, predicted, stored, finished; or received, failed")

    @model_validator(mode="after")
    def _honest_history(self) -> JobCompleted:
        steps = [h.status for h in self.history]
        if steps[-1].value != self.status.value:
            raise refusal("job_history", f"the history ends with {steps[-1].value!r}, not with the job's status "
                                         f"{self.status.value!r}: its last step is the state it ended in")
        for before, after in itertools.pairwise(self.history):
            if before.status in (JobStep.finished, JobStep.failed):
                raise refusal("job_history", f"the history has {before.status.value!r} before its end: a job "
                                             "ends once, with its last step")
            if after.at < before.at:
                raise refusal("job_history", f"the history goes back in time: {after.status.value!r} at "
                                             f"{after.at.isoformat()} comes after {before.status.value!r} at "
                                             f"{before.at.isoformat()}")
        if len(set(steps)) < len(steps):
            raise refusal("job_history", f"the history {[s.value for s in steps]} names a step twice: each "
                                         "happens once")
        return self


class JobsCompleted(BaseModel):
    jobs: list[JobCompleted] = Field(min_length=1, max_length=MAX_COMPLETED_JOBS,
                                     description=f"at most {MAX_COMPLETED_JOBS:,} jobs")


class JobsCompletedWritten(BaseModel):
    """One reference per job sent, in order: `existing` when the record's job was written before (a redelivery);
    it then carries the stored job's id and status, which the first write decided."""

    jobs: list[JobRef]
