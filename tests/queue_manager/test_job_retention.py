"""Retention of the jobs log and of the per-minute statistics (queue_manager/job_retention.py), on secantusdb."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from fastapi.testclient import TestClient

from conveyor.settings import ImproperlyConfigured, load
from queue_manager import job_minutes, jobs_store
from queue_manager.job_retention import PruneTask, Retention, prune
from queue_manager.main import create_app
from queue_manager.settings import Settings
from tests.support import wait_for_async

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def client(settings: Settings, api_token: str) -> Iterator[TestClient]:
    """queue_manager keeping everything: its own prune task must not race the passes these tests make."""
    keep = dataclasses.replace(settings, jobs_retention_days=0, job_stats_retention_days=0)
    with TestClient(create_app(keep), headers={"Authorization": f"Bearer {api_token}"}) as c:
        yield c


def _raw_job(created_at: datetime) -> dict:
    return {"_id": ObjectId(), "service": "s", "record_id": str(ObjectId()), "status": "finished",
            "created_at": created_at, "updated_at": created_at, "metadata": {"worker_id": "w1", "elapsed": 0.01}}


def _fill(days_old: list[float]) -> None:
    jobs = [_raw_job(NOW - timedelta(days=d)) for d in days_old]
    jobs_store.collection().insert_many(jobs)
    job_minutes.record(jobs)


def test_prune_removes_old_jobs_in_bounded_batches_and_keeps_the_statistics(client: TestClient) -> None:
    _fill([10.0] * 7 + [2.5, 0.5, 0.0])
    retention = Retention(jobs_days=2, stats_days=400)
    # 3 × 2 at most
    assert retention.prune_once(NOW, batch=3, max_batches=2) == {"jobs": 6, "job_minutes": 0, "job_rollups": 0}
    assert retention.prune_once(NOW, batch=3, max_batches=2) == {"jobs": 2, "job_minutes": 0, "job_rollups": 0}
    assert retention.prune_once(NOW) == {"jobs": 0, "job_minutes": 0, "job_rollups": 0}
    kept = sorted(d["created_at"] for d in jobs_store.collection().find({}, {"created_at": 1}))
    assert kept == [NOW - timedelta(days=0.5), NOW]
    assert sum(d["counts"]["finished"] for d in job_minutes.collection().find()) == 10  # the aggregates outlive


def test_statistics_have_their_own_retention_and_zero_keeps_forever(client: TestClient) -> None:
    _fill([500.0, 20.0, 1.0])
    assert Retention(jobs_days=0, stats_days=0).prune_once(NOW) == {"jobs": 0, "job_minutes": 0, "job_rollups": 0}
    # Each job's minute and its three roll-ups (10 min, hour, day: each starts more than half a day ago).
    assert Retention(jobs_days=0, stats_days=0.5).prune_once(NOW) == {"jobs": 0, "job_minutes": 3,
                                                                      "job_rollups": 3 * len(job_minutes.ROLLUP_STEPS)}
    assert job_minutes.rollups().count_documents({}) == 0
    assert jobs_store.collection().count_documents({}) == 3
    assert prune(jobs_store.collection(), "created_at", NOW - timedelta(days=400)) == 1


def test_the_task_prunes_in_the_background_and_stops(client: TestClient) -> None:
    async def scenario() -> None:
        task = PruneTask(Retention(jobs_days=1, stats_days=0), interval=0.05)
        task.start()
        try:
            _fill([3.0])
            await wait_for_async(lambda: asyncio.to_thread(lambda: jobs_store.collection().count_documents({}) == 0),
                                 5, "the prune task removing a job 3 days old")
            running = task._task
        finally:
            await task.stop()
        assert running is not None and running.cancelled() and task._task is None
        idle = PruneTask(Retention(0, 0))
        idle.start()  # nothing to keep short: no task at all
        assert idle._task is None

    asyncio.run(scenario())


def test_retention_settings_parse_fractions_and_refuse_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUE_MANAGER_JOBS_RETENTION_DAYS", "0.25")
    settings = load(Settings)
    assert settings.jobs_retention_days == 0.25 and settings.job_stats_retention_days == 400
    for value in ("-1", "nan", "100000"):
        monkeypatch.setenv("QUEUE_MANAGER_JOB_STATS_RETENTION_DAYS", value)
        with pytest.raises(ImproperlyConfigured, match="QUEUE_MANAGER_JOB_STATS_RETENTION_DAYS"):
            load(Settings)
