"""GET /queue_manager/jobs/stats: counts, throughput, latency and workers of a window, from the per-minute aggregates.

The window is the `window_minutes` whole minutes (UTC) that end with the current one, which is still filling and
so is marked `partial` in the throughput. Finished and failed jobs, throughput, latency and workers are read from
`job_minutes` (queue_manager/job_minutes.py: at most one document per service, worker and minute, whatever the
number of jobs), where a job counts in the minute it became terminal. Jobs still open (created, processing) are
counted on the jobs log itself, by the jobs created in the window that are not terminal, through a partial index
of open jobs made here (ensure_indexes): the jobs written once by the worker are never open, so it stays small.

A long window is read at a coarser step, the finest of 1, 10, 60 and 1440 minutes that gives it at most MAX_POINTS
points, from the roll-ups job_minutes keeps per step (`job_rollups`): at most MAX_POINTS documents per service and
worker whatever the window (a day: 24 hourly documents each instead of 1,440). Its points are then per step, the
current step partial, and the window starts at the start of the step its first minute falls in (`since` and
`step_minutes` in the answer). Roll-ups hold every job counted since ROLLUPS_SINCE (a marker written by the first
start-up that keeps them: the start of time on a new store, that start-up on a store whose minutes came before);
the steps before it are read from the minutes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import OperationFailure

from conveyor.schemas.jobs import TERMINAL, JobStatus
from queue_manager import job_minutes, jobs_store
from queue_manager.job_minutes import LATENCY_BUCKETS, ROLLUP_STEPS

OPEN_STATUSES = [s.value for s in JobStatus if s not in TERMINAL]
PERCENTILES = {"p50": 50.0, "p95": 95.0, "p99": 99.0}


OPEN_INDEX = "open_created_at"
BAD_VALUE = 2  # the server's code for a hint naming no index
MAX_POINTS = 60  # points of a window's throughput and latency series at most (the main dashboard: 60 minutes)
META = "job_stats_meta"
ROLLUPS_SINCE = "rollups_since"  # the marker's _id in META
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ensure_indexes() -> None:
    """The index the count of open jobs goes by: creation times of open jobs only (a partial index).

    Jobs written once in their final state never enter it, so it costs the hot path nothing; secantusdb's planner
    does not choose a partial index by itself (a scan of the whole log: 5 s at 1,000,000 jobs), so the query
    names it (hint), which MongoDB accepts too because the query asks for exactly the statuses it holds.
    """
    jobs = jobs_store.collection()
    if "status_created_at" in jobs.index_information():  # its first version: every job in it
        jobs.drop_index("status_created_at")
    jobs.create_index([("created_at", ASCENDING)], name=OPEN_INDEX,
                      partialFilterExpression={"status": {"$in": OPEN_STATUSES}})
    mark_rollups()


def mark_rollups(now: datetime | None = None) -> None:
    """The time from which the roll-ups hold every job, written once: the start of time when no minute was counted
    before them, else now (the minutes counted so far are not in them). Later start-ups keep the first answer."""
    counted_before = job_minutes.collection().find_one({}, {"_id": 1}) is not None
    since = (now or datetime.now(UTC)) if counted_before else EPOCH
    job_minutes.collection().database[META].update_one(
        {"_id": ROLLUPS_SINCE}, {"$setOnInsert": {"at": since}}, upsert=True)


def rollups_since() -> datetime:
    """Roll-ups are complete from this time on (no marker: they were never kept, read the minutes)."""
    doc = job_minutes.collection().database[META].find_one({"_id": ROLLUPS_SINCE})
    return datetime.max.replace(tzinfo=UTC) if doc is None else job_minutes.minute_of(doc["at"])


def step_for(window_minutes: int) -> int:
    """The finest step (minutes) that reads the window in at most MAX_POINTS points."""
    return next((step for step in (1, *ROLLUP_STEPS) if math.ceil(window_minutes / step) <= MAX_POINTS),
                ROLLUP_STEPS[-1])


@dataclass
class Histogram:
    """Latency bucket counts merged over several aggregates, with the smallest and largest value seen."""

    buckets: dict[int, int] = field(default_factory=dict)
    low: float = float("inf")
    high: float = float("-inf")

    def add(self, latency: Mapping[str, Any] | None) -> None:
        if not latency:
            return
        for key, n in (latency.get("buckets") or {}).items():
            index = int(key.removeprefix("b"))
            self.buckets[index] = self.buckets.get(index, 0) + int(n)
        if latency.get("min") is not None:
            self.low = min(self.low, float(latency["min"]))
        if latency.get("max") is not None:
            self.high = max(self.high, float(latency["max"]))

    def percentile(self, q: float) -> float | None:
        """The q-th percentile, interpolated linearly within its bucket.

        The rank q/100 × n falls in the first bucket whose cumulative count reaches it; the value is that bucket's
        lower bound plus the rank's fraction of the way through the bucket's count times the bucket's width, as
        Prometheus' histogram_quantile does. The bucket's bounds are narrowed to the smallest and largest latency
        seen, so the last, open-ended bucket ends at the largest value and no estimate lies outside the data. The
        estimate is within one bucket width of the exact percentile.
        """
        total = sum(self.buckets.values())
        if total == 0:
            return None
        rank = q / 100.0 * total
        cumulative = 0
        for index in sorted(self.buckets):
            n = self.buckets[index]
            if n <= 0:
                continue
            if cumulative + n >= rank:
                lower = LATENCY_BUCKETS[index - 1] if index > 0 else 0.0
                upper = LATENCY_BUCKETS[index]
                if self.low <= self.high:  # known extremes (aggregates always carry them)
                    lower, upper = max(lower, self.low), min(upper, self.high)
                    lower = min(lower, upper)
                if upper == float("inf"):
                    return lower
                return lower + (rank - cumulative) / n * (upper - lower)
            cumulative += n
        return self.high if self.high > float("-inf") else None

    def percentiles(self) -> dict[str, float | None]:
        return {name: self.percentile(q) for name, q in PERCENTILES.items()}


@dataclass
class _Worker:
    service: str
    worker_id: str
    finished: int = 0
    failed: int = 0
    last_at: datetime | None = None
    models: dict[str, datetime] = field(default_factory=dict)

    def add(self, doc: Mapping[str, Any]) -> None:
        counts = doc.get("counts") or {}
        self.finished += int(counts.get(JobStatus.finished.value, 0))
        self.failed += int(counts.get(JobStatus.failed.value, 0))
        at = doc.get("last_at")
        if at is not None and (self.last_at is None or at > self.last_at):
            self.last_at = at
        for key, model_at in (doc.get("models") or {}).items():
            if key not in self.models or model_at > self.models[key]:
                self.models[key] = model_at

    def answer(self) -> dict[str, Any]:
        model, _ = job_minutes.latest_model(self.models)
        return {"worker_id": self.worker_id, "service": self.service, "finished": self.finished,
                "failed": self.failed, "last_at": self.last_at, "model": model}


def window_start(now: datetime, window_minutes: int) -> datetime:
    """The first minute of the window: `window_minutes` minutes, the current one included."""
    return job_minutes.minute_of(now) - timedelta(minutes=window_minutes - 1)


def _open_counts(service: str | None, since: datetime) -> dict[str, int]:
    flt: dict[str, Any] = {"status": {"$in": OPEN_STATUSES}, "created_at": {"$gte": since}}
    if service:
        flt["service"] = service
    counts = dict.fromkeys(OPEN_STATUSES, 0)
    jobs = jobs_store.collection()
    try:
        found = list(jobs.find(flt, {"status": 1, "_id": 0}).hint(OPEN_INDEX))
    except OperationFailure as exc:
        if exc.code != BAD_VALUE:
            raise
        # The index is not there (yet: start-up's step is still being retried): slower, but the same answer.
        found = list(jobs.find(flt, {"status": 1, "_id": 0}))
    for doc in found:
        if doc.get("status") in counts:
            counts[doc["status"]] += 1
    return counts


def summarize(docs: Iterable[Mapping[str, Any]], current_minute: datetime, step: int = 1) -> dict[str, Any]:
    """Counts of terminal jobs, throughput, latency and workers from aggregate documents (pure: tested alone), with
    a point per `step` minutes (`current_minute`: the first minute of the current, partial, step)."""
    counts = {s.value: 0 for s in TERMINAL}
    finished_per_minute: dict[datetime, int] = {}
    latency_per_minute: dict[datetime, Histogram] = {}
    overall = Histogram()
    workers: dict[tuple[str, str], _Worker] = {}
    for doc in docs:
        minute = job_minutes.step_start(doc["minute"], step)
        doc_counts = doc.get("counts") or {}
        for status in counts:
            counts[status] += int(doc_counts.get(status, 0))
        finished = int(doc_counts.get(JobStatus.finished.value, 0))
        if finished:
            finished_per_minute[minute] = finished_per_minute.get(minute, 0) + finished
        latency = doc.get("latency")
        if latency and latency.get("count"):
            latency_per_minute.setdefault(minute, Histogram()).add(latency)
            overall.add(latency)
        key = (doc["service"], doc["worker_id"])
        workers.setdefault(key, _Worker(*key)).add(doc)
    return {
        "counts": counts,
        "throughput_per_minute": [
            {"minute": m, "count": n, "partial": m == current_minute} for m, n in sorted(finished_per_minute.items())
        ],
        "latency_seconds": overall.percentiles(),
        "latency_per_minute": [
            {"minute": m, **h.percentiles()} for m, h in sorted(latency_per_minute.items())
        ],
        "workers": sorted((w.answer() for w in workers.values() if w.last_at is not None),
                          key=lambda w: (w["last_at"], w["service"], w["worker_id"]), reverse=True),
    }


def stats(service: str | None, window_minutes: int, now: datetime | None = None) -> dict[str, Any]:
    """The JobStats answer of one service (None: all) over the last `window_minutes` minutes (see the module)."""
    now = now or datetime.now(UTC)
    step = step_for(window_minutes)
    current = job_minutes.step_start(now, step)
    first = job_minutes.step_start(window_start(now, window_minutes), step)
    summary = summarize(_aggregates(service, first, now, step), current, step)
    counts = {s.value: 0 for s in JobStatus}
    counts.update(summary.pop("counts"))
    counts.update(_open_counts(service, first))
    return {"service": service, "window_minutes": window_minutes, "step_minutes": step, "since": first,
            "counts": counts, **summary}


def _aggregates(service: str | None, first: datetime, now: datetime, step: int) -> list[dict[str, Any]]:
    """The aggregate documents of the window from `first` to now: minutes at step 1; at a coarser step the roll-ups
    from the first step they are complete in (rollups_since), the minutes before it."""
    only = {"service": service} if service else {}
    if step == 1:
        return list(job_minutes.collection().find({"minute": {"$gte": first, "$lte": now}, **only}, {"_id": 0}))
    since = rollups_since()
    if since <= first:
        complete = first
    elif since > now:  # no roll-ups in the window (or no marker): the minutes only
        complete = job_minutes.minute_of(now) + timedelta(minutes=1)
    else:
        complete = job_minutes.step_start(since, step)
        if complete < since:
            complete += timedelta(minutes=step)  # the step the marker falls in holds earlier jobs only in minutes
    docs: list[dict[str, Any]] = []
    if complete > first:
        docs += job_minutes.collection().find({"minute": {"$gte": first, "$lt": complete}, **only}, {"_id": 0})
    if complete <= now:
        # No hint: secantusdb's planner takes the (step, minute) index by itself, and a hinted scan is slower there
        # (81 against 26 ms for a day's 400 hourly documents, measured).
        docs += job_minutes.rollups().find({"step": step, "minute": {"$gte": max(first, complete), "$lte": now},
                                            **only}, {"_id": 0})
    return docs
