"""The per-minute aggregates (queue_manager/job_minutes.py) and the stats read from them (job_stats.py), on secantusdb.

The expectations are computed here from the raw jobs the aggregates were fed, independently of both modules.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from bson import ObjectId
from fastapi.testclient import TestClient

from queue_manager import job_minutes, job_stats, jobs_store
from queue_manager.job_minutes import LATENCY_BUCKETS
from queue_manager.job_stats import Histogram

# Half-way through "the current minute" of the stats asked below (two hours ago: well within the retention).
NOW = (datetime.now(UTC) - timedelta(hours=2)).replace(second=30, microsecond=0)
WINDOW = 10  # the current minute and the nine before it


@pytest.fixture
def store(client: TestClient) -> Iterator[None]:
    """A fresh database with queue_manager's indexes (the app made them at start-up) and its connection."""
    yield


def _job(service: str, worker: str | None, at: datetime, status: str = "finished", elapsed: float | None = None,
         model: tuple[str, int] | None = ("m", 1)) -> dict[str, Any]:
    return {"_id": ObjectId(), "service": service, "record_id": str(ObjectId()), "status": status,
            "created_at": at - timedelta(seconds=elapsed or 0), "updated_at": at,
            "algorithm_name": model[0] if model else None, "algorithm_version": model[1] if model else None,
            "metadata": {"worker_id": worker, "elapsed": elapsed}}


def _ms(at: datetime) -> datetime:
    """A time as MongoDB keeps it: to the millisecond."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def _bucket_width(value: float) -> float:
    index = job_minutes.bucket_of(value)
    upper = LATENCY_BUCKETS[index]
    return (upper if upper != float("inf") else value) - (LATENCY_BUCKETS[index - 1] if index else 0.0)


def _close(estimate: float | None, values: list[float], q: float) -> bool:
    exact = float(np.percentile(values, q))
    assert estimate is not None
    return abs(estimate - exact) <= max(_bucket_width(exact), _bucket_width(estimate))


def _jobs() -> list[dict[str, Any]]:
    rng = random.Random(15)
    jobs = []
    for minute in range(-12, 1):  # the first three minutes fall outside the window
        start = NOW.replace(second=0) + timedelta(minutes=minute)
        seconds = 30 if minute == 0 else 60  # the current minute has only its first half
        for _ in range(25):
            jobs.append(_job("s", "w1", start + timedelta(seconds=rng.uniform(0, seconds)),
                             elapsed=rng.lognormvariate(-3, 0.7), model=("m", 1)))
        for _ in range(10):
            jobs.append(_job("s", "w2", start + timedelta(seconds=rng.uniform(0, seconds)),
                             elapsed=rng.lognormvariate(-1.5, 0.5), model=("m", 2)))
        jobs.append(_job("s", "w2", start + timedelta(seconds=1), status="failed", model=("m", 2)))
        jobs.append(_job("t", "w9", start + timedelta(seconds=2), elapsed=0.3))
    jobs.append(_job("s", None, NOW - timedelta(minutes=2), status="failed", model=None))  # no worker: "?"
    jobs.append(_job("s", "w1", NOW - timedelta(minutes=5), status="processing"))  # not terminal: not counted
    return jobs


def _record_shuffled(jobs: list[dict[str, Any]]) -> None:
    """In calls of 40, out of time order: a late call of older jobs must not change the latest model."""
    order = jobs[:]
    random.Random(1).shuffle(order)
    for i in range(0, len(order), 40):
        job_minutes.record(order[i:i + 40])


def test_stats_from_aggregates_match_the_raw_jobs(store: None) -> None:
    jobs = _jobs()
    _record_shuffled(jobs)
    first = NOW.replace(second=0) - timedelta(minutes=WINDOW - 1)
    in_window = [j for j in jobs if j["updated_at"] >= first and j["status"] in ("finished", "failed")]
    answer = job_stats.stats("s", WINDOW, now=NOW)
    mine = [j for j in in_window if j["service"] == "s"]

    finished = [j for j in mine if j["status"] == "finished"]
    assert answer["counts"] == {"created": 0, "processing": 0, "finished": len(finished),
                                "failed": sum(j["status"] == "failed" for j in mine)}
    assert answer["counts"]["finished"] == 35 * 10  # ten minutes of 25 + 10 finished jobs

    per_minute: dict[datetime, list[float]] = {}
    for j in finished:
        per_minute.setdefault(j["updated_at"].replace(second=0, microsecond=0), []).append(j["metadata"]["elapsed"])
    assert [(p["minute"], p["count"], p["partial"]) for p in answer["throughput_per_minute"]] == [
        (m, len(v), m == NOW.replace(second=0)) for m, v in sorted(per_minute.items())]
    assert answer["throughput_per_minute"][0]["minute"] == first  # the window cut: three minutes left out
    assert answer["throughput_per_minute"][-1]["partial"] is True
    assert sum(p["partial"] for p in answer["throughput_per_minute"]) == 1

    values = [j["metadata"]["elapsed"] for j in finished]
    for name, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        assert _close(answer["latency_seconds"][name], values, q), (name, answer["latency_seconds"][name])
    assert answer["latency_seconds"]["p50"] < answer["latency_seconds"]["p95"] <= answer["latency_seconds"]["p99"]
    assert [p["minute"] for p in answer["latency_per_minute"]] == sorted(per_minute)
    for point in answer["latency_per_minute"]:
        for name, q in (("p50", 50), ("p95", 95), ("p99", 99)):
            assert _close(point[name], per_minute[point["minute"]], q), (point, name)

    workers = {w["worker_id"]: w for w in answer["workers"]}
    assert set(workers) == {"w1", "w2", "?"}
    for worker_id, worker in workers.items():
        own = [j for j in mine if (j["metadata"]["worker_id"] or "?") == worker_id]
        assert worker["service"] == "s"
        assert worker["finished"] == sum(j["status"] == "finished" for j in own)
        assert worker["failed"] == sum(j["status"] == "failed" for j in own)
        assert worker["last_at"] == _ms(max(j["updated_at"] for j in own))
    assert workers["w1"]["model"] == "m v1" and workers["w2"]["model"] == "m v2" and workers["?"]["model"] is None
    assert [w["last_at"] for w in answer["workers"]] == sorted((w["last_at"] for w in answer["workers"]),
                                                               reverse=True)


def test_service_filter_and_all_services(store: None) -> None:
    jobs = _jobs()
    _record_shuffled(jobs)
    everything = job_stats.stats(None, WINDOW, now=NOW)
    only_t = job_stats.stats("t", WINDOW, now=NOW)
    assert only_t["counts"]["finished"] == 10 and only_t["counts"]["failed"] == 0
    assert [w["worker_id"] for w in only_t["workers"]] == ["w9"]
    assert only_t["latency_seconds"]["p50"] == pytest.approx(0.3)  # one value: the bucket narrows to it
    assert everything["counts"]["finished"] == 350 + 10
    assert {w["worker_id"] for w in everything["workers"]} == {"w1", "w2", "?", "w9"}
    assert job_stats.stats("nobody", WINDOW, now=NOW)["latency_seconds"] == {"p50": None, "p95": None, "p99": None}


def test_open_jobs_are_counted_on_the_jobs_log_within_the_window(store: None) -> None:
    open_jobs = [_job("s", "w1", NOW - timedelta(minutes=m), status=s)
                 for m, s in ((1, "processing"), (3, "created"), (4, "processing"), (30, "processing"))]
    open_jobs.append(_job("t", "w1", NOW - timedelta(minutes=1), status="created"))
    jobs_store.collection().insert_many(open_jobs)
    counts = job_stats.stats("s", WINDOW, now=NOW)["counts"]
    assert (counts["created"], counts["processing"]) == (1, 2)
    assert job_stats.stats(None, WINDOW, now=NOW)["counts"]["created"] == 2
    # The partial index holds open jobs only: one that finishes leaves it (and the count).
    jobs_store.collection().update_one({"_id": open_jobs[0]["_id"]}, {"$set": {"status": "finished"}})
    assert job_stats.stats("s", WINDOW, now=NOW)["counts"]["processing"] == 1
    assert "partialFilterExpression" in jobs_store.collection().index_information()[job_stats.OPEN_INDEX]
    jobs_store.collection().drop_index(job_stats.OPEN_INDEX)  # a store without it answers the same, slower
    assert job_stats.stats("s", WINDOW, now=NOW)["counts"]["processing"] == 1


def test_writers_racing_on_a_new_minute_lose_no_count(store: None) -> None:
    at = NOW - timedelta(seconds=5)
    batches = [[_job("s", "w1", at, elapsed=0.01) for _ in range(5)] for _ in range(6)]
    threads = [threading.Thread(target=job_minutes.record, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (doc,) = list(job_minutes.collection().find({"service": "s"}))
    assert doc["counts"] == {"finished": 30} and doc["latency"]["count"] == 30


def test_a_late_call_of_older_jobs_keeps_the_latest_model(store: None) -> None:
    job_minutes.record([_job("s", "w1", NOW - timedelta(seconds=10), elapsed=0.01, model=("m", 3))])
    job_minutes.record([_job("s", "w1", NOW - timedelta(seconds=20), elapsed=0.01, model=("m", 2)),
                        _job("s", "w1", NOW - timedelta(seconds=25), status="failed", model=("m.x$", 1))])
    (worker,) = job_stats.stats("s", WINDOW, now=NOW)["workers"]
    assert worker["model"] == "m v3" and worker["last_at"] == _ms(NOW - timedelta(seconds=10))
    assert (worker["finished"], worker["failed"]) == (2, 1)
    job_minutes.record([_job("s", "w1", NOW - timedelta(seconds=5), elapsed=0.01, model=("m.x$", 1))])
    assert job_stats.stats("s", WINDOW, now=NOW)["workers"][0]["model"] == "m.x$ v1"  # a name with . and $


def test_the_endpoint_answers_the_current_partial_minute(client: TestClient, read_token: str) -> None:
    now = datetime.now(UTC)
    job_minutes.record([_job("s", "w1", now, elapsed=0.02), _job("s", "w1", now, status="failed")])
    answer = client.get("/queue_manager/jobs/stats", params={"service": "s", "window_minutes": 5},
                        headers={"Authorization": f"Bearer {read_token}"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["counts"] == {"created": 0, "processing": 0, "finished": 1, "failed": 1}
    assert [(p["count"], p["partial"]) for p in body["throughput_per_minute"]] == [(1, True)]
    assert body["workers"][0]["worker_id"] == "w1" and body["workers"][0]["model"] == "m v1"
    assert body["latency_per_minute"][0]["p50"] == pytest.approx(0.02)


def test_histogram_percentiles_from_buckets() -> None:
    assert Histogram().percentile(50) is None
    values = [i / 100 for i in range(100)]  # 0.00 .. 0.99 s
    histogram = Histogram()
    for value in values:
        histogram.add({"buckets": {f"b{job_minutes.bucket_of(value)}": 1}, "min": value, "max": value})
    for q in (50, 95, 99):
        assert _close(histogram.percentile(q), values, q)
    slow = Histogram()
    slow.add({"buckets": {f"b{len(LATENCY_BUCKETS) - 1}": 3}, "min": 400.0, "max": 900.0})  # the open bucket
    assert 400.0 <= (slow.percentile(99) or 0) <= 900.0


# -- long windows: read at a coarser step from the roll-ups

def test_the_step_is_the_finest_that_keeps_a_window_within_sixty_points() -> None:
    assert [job_stats.step_for(w) for w in (1, 60, 61, 600, 601, 1440, 3600, 3601, 44_640)] == [
        1, 1, 10, 10, 60, 60, 60, 1440, 1440]


def _day_of_jobs() -> list[dict[str, Any]]:
    """Thirty hours of jobs of two services and three workers, ending half-way through NOW's minute."""
    rng = random.Random(7)
    jobs = []
    for k in range(800):
        at = NOW - timedelta(seconds=rng.uniform(0, 30 * 3600))
        service, worker = rng.choice([("s", "w1"), ("s", "w2"), ("t", "w9")])
        failed = rng.random() < 0.05
        jobs.append(_job(service, worker, at, status="failed" if failed else "finished",
                         elapsed=None if failed else rng.lognormvariate(-3, 0.7), model=("m", 1 + k % 2)))
    jobs.append(_job("s", "w1", NOW - timedelta(seconds=1), elapsed=0.05))  # the current hour has one at least
    return jobs


def _record_day(jobs: list[dict[str, Any]]) -> None:
    order = jobs[:]
    random.Random(2).shuffle(order)
    for i in range(0, len(order), 200):
        job_minutes.record(order[i:i + 200])


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def test_a_day_is_read_hour_by_hour_from_the_roll_ups_and_matches_the_raw_jobs(store: None) -> None:
    jobs = _day_of_jobs()
    _record_day(jobs)
    answer = job_stats.stats(None, 1440, now=NOW)
    since = _hour(NOW - timedelta(minutes=1439))
    assert (answer["step_minutes"], answer["since"]) == (60, since)
    counted = [j for j in jobs if j["updated_at"] >= since]
    assert answer["counts"]["finished"] == sum(j["status"] == "finished" for j in counted)
    assert answer["counts"]["failed"] == sum(j["status"] == "failed" for j in counted)
    per_hour: dict[datetime, list[float]] = {}
    for j in counted:
        if j["status"] == "finished":
            per_hour.setdefault(_hour(j["updated_at"]), []).append(j["metadata"]["elapsed"])
    assert [(p["minute"], p["count"], p["partial"]) for p in answer["throughput_per_minute"]] == [
        (h, len(v), h == _hour(NOW)) for h, v in sorted(per_hour.items())]
    assert len(answer["throughput_per_minute"]) == 25  # 24 hours back, and the current one partial
    for point in answer["latency_per_minute"]:
        assert _close(point["p50"], per_hour[point["minute"]], 50), point
    values = [e for v in per_hour.values() for e in v]
    assert _close(answer["latency_seconds"]["p95"], values, 95)
    workers = {w["worker_id"]: w for w in answer["workers"]}
    for worker_id, worker in workers.items():
        own = [j for j in counted if j["metadata"]["worker_id"] == worker_id]
        assert (worker["finished"], worker["failed"]) == (sum(j["status"] == "finished" for j in own),
                                                          sum(j["status"] == "failed" for j in own))
        assert worker["last_at"] == _ms(max(j["updated_at"] for j in own))
    assert set(workers) == {"w1", "w2", "w9"}
    assert job_stats.stats("t", 1440, now=NOW)["counts"]["finished"] == sum(
        j["status"] == "finished" and j["service"] == "t" for j in counted)
    # Read from at most one document per service, worker and hour: the minutes would be ~60 times as many.
    assert job_minutes.rollups().count_documents({"step": 60, "minute": {"$gte": since}}) <= 3 * 25


def test_steps_before_the_roll_ups_began_are_read_from_the_minutes(store: None) -> None:
    """A store whose minutes were counted before the roll-ups existed: the marker says from when they hold every
    job, and the answer is the same as if they had always been kept."""
    jobs = _day_of_jobs()
    _record_day(jobs)
    expected = {w: job_stats.stats(None, w, now=NOW) for w in (300, 1440, 2000)}
    began = NOW - timedelta(hours=7, minutes=23)  # inside an hour, a 10-minute step and a day
    meta = job_minutes.collection().database[job_stats.META]
    meta.delete_many({})
    job_stats.mark_rollups(now=began)  # minutes were counted before: from `began` on
    job_stats.mark_rollups(now=NOW)  # a later start-up keeps the first marker
    assert job_stats.rollups_since() == job_minutes.minute_of(began)
    # What the roll-ups lack of the time before the marker (the old code never wrote them).
    job_minutes.rollups().delete_many({"minute": {"$lt": began}})
    for window, answer in expected.items():
        again = job_stats.stats(None, window, now=NOW)
        assert again["counts"] == answer["counts"], window
        assert again["throughput_per_minute"] == answer["throughput_per_minute"], window
        assert [(w["worker_id"], w["finished"], w["failed"]) for w in again["workers"]] == [
            (w["worker_id"], w["finished"], w["failed"]) for w in answer["workers"]], window
