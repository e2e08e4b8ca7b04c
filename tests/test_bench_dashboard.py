"""The dashboard benchmark: the jobs it fills the log with, its percentiles, and the command on a small log."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

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


def test_chunks_come_oldest_first_each_in_its_own_slice_of_the_window() -> None:
    """As workers write them: a chunk falls in a few minutes, so its aggregates are a few upserts."""
    chunks = list(spread_jobs(4_000, services=2, workers=2, minutes=40, now=NOW, chunk=1_000))
    spans = [(min(d["updated_at"] for d in c), max(d["updated_at"] for d in c)) for c in chunks]
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))
    assert all(last - first <= timedelta(minutes=10) for first, last in spans)  # 40 min / 4 chunks
    assert spans[0][0] >= NOW - timedelta(minutes=40) and spans[-1][1] <= NOW
    assert len({d["updated_at"].replace(second=0, microsecond=0) for d in chunks[1]}) <= 11


def test_with_a_clock_each_chunk_ends_at_the_time_it_is_made() -> None:
    """A long fill: its last jobs are of the last minute when it ends, so the windows read next are full."""
    times = iter([NOW, NOW + timedelta(minutes=30)])
    first, last = spread_jobs(2_000, 2, 2, 60, NOW, chunk=1_000, clock=lambda: next(times))
    assert max(d["updated_at"] for d in first) <= NOW - timedelta(minutes=29)
    assert NOW + timedelta(minutes=29) <= max(d["updated_at"] for d in last) <= NOW + timedelta(minutes=30)


@pytest.mark.slow
def test_the_command_times_the_stats_and_every_refreshing_callback_on_a_small_log(tmp_path: Path) -> None:
    """The whole command, in a process of its own (the dashboards need the admin's Django settings): a stack of its
    own, 3,000 jobs over a day, two timed calls of each item."""
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, "-m", "conveyor_tools.cli.main", "bench", "dashboard", "--jobs", "3000", "--minutes", "1440",
         "--services", "2", "--workers", "2", "--repeats", "2", "--baseline-repeats", "1", "--no-payload",
         "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["fill"]["jobs"] == 3000 and figures["fill"]["rollup_documents"] > 0
    assert {k for k in figures["items"] if k.startswith("stats")} == {
        "stats (GET /queue_manager/jobs/stats, 60 min)", "stats (GET /queue_manager/jobs/stats, 1440 min)"}
    for prefix in ("main:", "pipeline map", "monitoring:", "retraining:"):
        assert any(k.startswith(prefix) for k in figures["items"]), prefix
    assert "main: whole refresh (service list + jobs panel + data panel)" in figures["items"]
    assert all(v["calls"] == 2 and 0 < v["p50_ms"] <= v["p95_ms"] for v in figures["items"].values())
    day = figures["stats_check"]["1440"]
    assert day["step_minutes"] == 60 and 24 <= day["points"] <= 25 and day["jobs_in_window"] > 2500
    assert figures["stats_check"]["60"]["step_minutes"] == 1 and figures["stats_check"]["60"]["workers"] == 4
    assert set(figures["ratios"]) == {"old refresh / jobs panel, p50", "old long window / stats, 1440 min, p50"}
    assert "p50 ms" in done.stdout and "main: whole refresh" in done.stdout
