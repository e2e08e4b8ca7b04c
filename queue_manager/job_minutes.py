"""Per-minute aggregates of the jobs log, kept up to date as jobs become terminal (collection `job_minutes`).

One document per (service, worker_id, minute of the job's updated_at):

    {service, worker_id, minute,
     counts: {finished: n, failed: n},
     latency: {buckets: {"b0": n, "b1": n, ...}, sum, count, min, max},   # metadata.elapsed of finished jobs
     last_at,
     models: {"<algorithm_name vN, escaped>": last_at of its latest job}}

The same jobs are also counted into coarser roll-ups (collection `job_rollups`): the same documents with a `step`
of 10, 60 or 1440 minutes and `minute` the first minute of their step (UTC, steps aligned to midnight), so a long
window reads a few of them instead of every minute (queue_manager/job_stats.py chooses the step).

`record` adds jobs to them with one bulk write of upserts per collection ($inc of counts and bucket counts,
$min/$max of the latency's extremes, of last_at and of each model's last time), so GET /queue_manager/jobs/stats
reads a few documents per minute (or per step) instead of scanning the jobs. Buckets are named "b<index into
LATENCY_BUCKETS>": an object, not an array, because an upsert's $inc on "latency.buckets.3" makes an object on both
MongoDB and secantusdb.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mongoengine.connection import get_db
from pymongo import ASCENDING, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from conveyor.schemas.jobs import TERMINAL, JobStatus

COLLECTION = "job_minutes"
ROLLUPS = "job_rollups"
ROLLUP_STEPS: tuple[int, ...] = (10, 60, 1440)  # minutes; each divides a day, so steps align to midnight (UTC)
# Upper bounds in seconds of the latency histogram's buckets (Prometheus' "le"); the last one catches the rest.
# Fine enough from 1 ms to a minute that a percentile read from them is within one bucket of the exact one.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
    0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0, math.inf,
)
STEP_MINUTE_INDEX = "step_minute"  # the stats' window and the retention's prune of the roll-ups go by it
UNKNOWN_WORKER = "?"
DUPLICATE_KEY = 11000
_TERMINAL_VALUES = frozenset(s.value for s in TERMINAL)


def collection() -> Collection:
    return get_db()[COLLECTION]


def rollups() -> Collection:
    return get_db()[ROLLUPS]


def bucket_key(index: int) -> str:
    return f"b{index}"


def bucket_of(seconds: float) -> int:
    """The index of the first bucket whose upper bound is at least `seconds` (a bound belongs to its bucket)."""
    return bisect.bisect_left(LATENCY_BUCKETS, seconds)


def ensure_indexes() -> None:
    """The key of the aggregates, and their minute (the stats' window and the retention's prune go by it)."""
    minutes = collection()
    minutes.create_index([("service", ASCENDING), ("worker_id", ASCENDING), ("minute", ASCENDING)], unique=True,
                         name="service_worker_minute")
    minutes.create_index([("minute", ASCENDING)], name="minute_1")
    coarse = rollups()
    coarse.create_index([("step", ASCENDING), ("service", ASCENDING), ("worker_id", ASCENDING), ("minute", ASCENDING)],
                        unique=True, name="step_service_worker_minute")
    coarse.create_index([("step", ASCENDING), ("minute", ASCENDING)], name=STEP_MINUTE_INDEX)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def minute_of(at: datetime) -> datetime:
    return _utc(at).replace(second=0, microsecond=0)


def step_start(at: datetime, step: int) -> datetime:
    """The first minute of the `step`-minute bucket (aligned to midnight, UTC) that `at` falls in."""
    minute = minute_of(at)
    of_day = minute.hour * 60 + minute.minute
    return minute.replace(hour=0, minute=0) + timedelta(minutes=of_day // step * step)


def model_key(model: str) -> str:
    """A model's name as a field name: no '.' (a path) nor a leading '$' (an operator), reversibly."""
    return model.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def model_from_key(key: str) -> str:
    return key.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


def latest_model(models: Mapping[str, datetime] | None) -> tuple[str | None, datetime | None]:
    """The model of the latest job among an aggregate's (or several aggregates' merged) `models`, and its time."""
    if not models:
        return None, None
    key, at = max(models.items(), key=lambda item: item[1])
    return model_from_key(key), at


def _model(doc: Mapping[str, Any]) -> str | None:
    name = doc.get("algorithm_name")
    if not name:
        return None
    version = doc.get("algorithm_version")
    return f"{name} v{version}" if version is not None else str(name)


@dataclass
class _Minute:
    """What one call adds to one aggregate document."""

    counts: dict[str, int] = field(default_factory=dict)
    buckets: dict[int, int] = field(default_factory=dict)
    latency_sum: float = 0.0
    latency_count: int = 0
    latency_min: float = math.inf
    latency_max: float = -math.inf
    last_at: datetime | None = None
    models: dict[str, datetime] = field(default_factory=dict)

    def add(self, status: str, at: datetime, elapsed: float | None, model: str | None) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        if status == JobStatus.finished.value and elapsed is not None and math.isfinite(elapsed):
            seconds = max(0.0, elapsed)
            index = bucket_of(seconds)
            self.buckets[index] = self.buckets.get(index, 0) + 1
            self.latency_sum += seconds
            self.latency_count += 1
            self.latency_min = min(self.latency_min, seconds)
            self.latency_max = max(self.latency_max, seconds)
        if self.last_at is None or at > self.last_at:
            self.last_at = at
        if model is not None and (model not in self.models or at > self.models[model]):
            self.models[model] = at

    def update(self) -> dict[str, Any]:
        inc: dict[str, Any] = {f"counts.{status}": n for status, n in self.counts.items()}
        inc.update({f"latency.buckets.{bucket_key(i)}": n for i, n in self.buckets.items()})
        op: dict[str, Any] = {"$max": {"last_at": self.last_at}}
        if self.latency_count:
            inc["latency.sum"] = self.latency_sum
            inc["latency.count"] = self.latency_count
            op["$min"] = {"latency.min": self.latency_min}
            op["$max"]["latency.max"] = self.latency_max
        op["$inc"] = inc
        for model, at in self.models.items():
            # A $max per model rather than a $set: a call that arrives late with older jobs does not make their
            # model the latest. The reader takes the model with the latest time (latest_model).
            op["$max"][f"models.{model_key(model)}"] = at
        return op


def _elapsed(doc: Mapping[str, Any]) -> float | None:
    value = (doc.get("metadata") or {}).get("elapsed")
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def record(docs: Sequence[Mapping[str, Any]]) -> None:
    """Count jobs that have just become terminal into the per-minute aggregates (collection `job_minutes`):
    one document per (service, worker_id, minute of updated_at) with counts per status, a latency histogram of
    metadata.elapsed for finished jobs (bucket counts, sum, count, min, max), the model (algorithm_name vN) of its
    latest job (as each model's latest time: see latest_model) and last_at. One bulk write (upserts with
    $inc/$min/$max) per call.

    Each doc is a job document as stored in MongoDB; a missing worker_id counts under "?". A job that is not
    terminal is not counted (its caller calls again when it becomes terminal); the caller calls once per job.
    """
    minutes: dict[tuple[str, str, datetime], _Minute] = {}
    coarse: dict[tuple[int, str, str, datetime], _Minute] = {}
    for doc in docs:
        status = doc.get("status")
        status = status.value if isinstance(status, JobStatus) else status
        if status not in _TERMINAL_VALUES:
            continue
        at = _utc(doc.get("updated_at") or datetime.now(UTC))
        worker = (doc.get("metadata") or {}).get("worker_id") or UNKNOWN_WORKER
        service, worker_id, elapsed, model = str(doc["service"]), str(worker), _elapsed(doc), _model(doc)
        minutes.setdefault((service, worker_id, minute_of(at)), _Minute()).add(status, at, elapsed, model)
        for step in ROLLUP_STEPS:
            coarse.setdefault((step, service, worker_id, step_start(at, step)), _Minute()).add(
                status, at, elapsed, model)
    if not minutes:
        return
    _upsert(collection(), [
        UpdateOne({"service": service, "worker_id": worker, "minute": minute}, entry.update(), upsert=True)
        for (service, worker, minute), entry in minutes.items()
    ])
    _upsert(rollups(), [
        UpdateOne({"step": step, "service": service, "worker_id": worker, "minute": start}, entry.update(),
                  upsert=True)
        for (step, service, worker, start), entry in coarse.items()
    ])


def _upsert(target: Collection, ops: list[UpdateOne]) -> None:
    try:
        target.bulk_write(ops, ordered=False)
    except BulkWriteError as exc:
        # Two writers upserting a new minute at once: one insert loses on the unique key. Its document exists
        # now, so the same update applied again finds it and adds its counts.
        errors = exc.details.get("writeErrors", [])
        if not errors or any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        target.bulk_write([ops[e["index"]] for e in errors], ordered=False)
