"""The dashboard benchmark's pure parts: the jobs it fills the log with, and its percentiles."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from conveyor.schemas.jobs import Job, JobStep
from conveyor_tools.benchmarks.dashboard import percentiles, service_names, spread_jobs

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_the_jobs_are_spread_over_services_workers_and_the_window_in_chunks() -> None:
    chunks = list(spread_jobs(2_500, services=3, workers=2, minutes=60, now=NOW, failed_share=0.1, chunk=1_000))
    assert [len(c) for c in chunks] == [1_000, 1_000, 500]
    docs = [d for c in chunks for d in c]
    assert len({d["record_id"] for d in docs}) == 2_500 and len({d["_id"] for d in docs}) == 2_500
    assert Counter(d["service"] for d in docs) == {name: 834 if i == 0 else 833
                                                  for i, name in enumerate(service_names(3))}
    assert {d["metadata"]["worker_id"] for d in docs} == {f"{s}-w{k}" for s in service_names(3) for k in (0, 1)}
    assert all(NOW - timedelta(minutes=60) <= d["updated_at"] <= NOW for d in docs)
    failed = [d for d in docs if d["status"] == "failed"]
    assert 150 < len(failed) < 350 and all(d["metadata"]["elapsed"] is None and d["error"] for d in failed)
    finished = [d for d in docs if d["status"] == "finished"]
    assert all(d["metadata"]["elapsed"] > 0 for d in finished)
    assert [h["status"] for h in finished[0]["history"]] == ["received", "predicted", "stored", "finished"]
    # What the API answers of such a document: a valid job.
    job = Job.model_validate({**{k: v for k, v in finished[0].items() if k != "_id"}, "id": str(finished[0]["_id"])})
    assert job.history[-1].status == JobStep.finished


def test_the_same_seed_fills_the_same_log() -> None:
    first, again = (next(spread_jobs(10, 2, 2, 60, NOW, seed=3)) for _ in range(2))
    strip = lambda docs: [{k: v for k, v in d.items() if k != "_id"} for d in docs]  # noqa: E731
    assert strip(first) == strip(again)


def test_percentiles_are_in_milliseconds() -> None:
    assert percentiles([0.01] * 19 + [1.0]) == {"p50_ms": 10.0, "p95_ms": 59.5, "calls": 20}
