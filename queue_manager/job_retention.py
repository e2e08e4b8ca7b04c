"""Retention of the jobs log and of its per-minute statistics: a periodic prune in bounded batches.

Raw jobs older than QUEUE_MANAGER_JOBS_RETENTION_DAYS (by created_at, through the index the jobs log has
already) and aggregates older than QUEUE_MANAGER_JOB_STATS_RETENTION_DAYS (by minute; the roll-ups by the start of
their step) are deleted; 0 keeps them.

Why not a TTL index: secantusdb honours one (its sweeper runs every 60 s, as mongod's TTL monitor does), but
its sweep decodes every document of the collection while holding the store's lock, whether anything expires
or not: at a million jobs that stalls every request once a minute (see the README). A prune through an index
deletes only what has expired, a batch at a time, on MongoDB and secantusdb alike.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.collection import Collection

from queue_manager import job_minutes, jobs_store

log = logging.getLogger(__name__)

PRUNE_INTERVAL_SECONDS = 60.0
PRUNE_BATCH = 500  # documents per delete: on secantusdb a delete takes about 8 ms a job (measured at 1M jobs)
PRUNE_MAX_BATCHES = 20  # per pass and collection: a backlog is worked off over several passes


def prune(target: Collection, field_name: str, before: datetime, *, batch: int = PRUNE_BATCH,
          max_batches: int = PRUNE_MAX_BATCHES, where: Mapping[str, Any] | None = None) -> int:
    """Delete documents whose `field_name` is before `before` (and that match `where`), `batch` at a time,
    `max_batches` at most."""
    removed = 0
    for _ in range(max_batches):
        ids = [doc["_id"] for doc in target.find({**(where or {}), field_name: {"$lt": before}}, {"_id": 1})
               .limit(batch)]
        if not ids:
            break
        removed += target.delete_many({"_id": {"$in": ids}}).deleted_count
        if len(ids) < batch:
            break
    return removed


@dataclass(frozen=True)
class Retention:
    jobs_days: float  # 0: forever
    stats_days: float  # 0: forever

    def prune_once(self, now: datetime | None = None, *, batch: int = PRUNE_BATCH,
                   max_batches: int = PRUNE_MAX_BATCHES) -> dict[str, int]:
        """One pass: what it deleted from the jobs log and from the aggregates."""
        now = now or datetime.now(UTC)
        removed = {"jobs": 0, "job_minutes": 0, "job_rollups": 0}
        if self.jobs_days > 0:
            removed["jobs"] = prune(jobs_store.collection(), "created_at", now - timedelta(days=self.jobs_days),
                                    batch=batch, max_batches=max_batches)
        if self.stats_days > 0:
            before = now - timedelta(days=self.stats_days)
            removed["job_minutes"] = prune(job_minutes.collection(), "minute", before, batch=batch,
                                           max_batches=max_batches)
            for step in job_minutes.ROLLUP_STEPS:  # step by step: through the roll-ups' (step, minute) index
                removed["job_rollups"] += prune(job_minutes.rollups(), "minute", before, batch=batch,
                                                max_batches=max_batches, where={"step": step})
        return removed

    @property
    def enabled(self) -> bool:
        return self.jobs_days > 0 or self.stats_days > 0


class PruneTask:
    """The one background task of queue_manager that applies the retention, every `interval` seconds."""

    def __init__(self, retention: Retention, interval: float = PRUNE_INTERVAL_SECONDS) -> None:
        self.retention = retention
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            try:
                removed = await asyncio.to_thread(self.retention.prune_once)
                if any(removed.values()):
                    log.info("retention: removed %(jobs)d jobs, %(job_minutes)d per-minute statistics and "
                             "%(job_rollups)d roll-ups", removed)
            except Exception as exc:  # a store that is down is tried again at the next pass
                log.warning("retention prune failed (tried again in %.0f s): %s", self.interval, exc)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        if self.retention.enabled and self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
