"""GET /queue_manager/jobs/stats: counts, throughput and latency of a window of jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from conveyor.schemas.jobs import JobStatus
from queue_manager.jobs_store import collection

STATS_SCAN_LIMIT = 500_000


def _percentile(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if values.size else None


def stats(service: str | None, window_minutes: int) -> dict[str, Any]:
    since = datetime.now(UTC) - timedelta(minutes=window_minutes)
    flt: dict[str, Any] = {"created_at": {"$gte": since}}
    if service:
        flt["service"] = service
    counts = {s.value: 0 for s in JobStatus}
    for row in collection().aggregate([
        {"$match": flt}, {"$group": {"_id": "$status", "n": {"$sum": 1}}},
    ]):
        counts[row["_id"]] = row["n"]
    finished = collection().find(
        {**flt, "status": JobStatus.finished.value},
        {"updated_at": 1, "metadata.elapsed": 1, "_id": 0},
    ).limit(STATS_SCAN_LIMIT)
    per_minute: dict[datetime, int] = {}
    elapsed: list[float] = []
    for doc in finished:
        minute = doc["updated_at"].replace(second=0, microsecond=0, tzinfo=UTC)
        per_minute[minute] = per_minute.get(minute, 0) + 1
        value = (doc.get("metadata") or {}).get("elapsed")
        if value is not None:
            elapsed.append(float(value))
    values = np.asarray(elapsed)
    return {
        "service": service,
        "window_minutes": window_minutes,
        "counts": counts,
        "throughput_per_minute": [
            {"minute": m, "count": n} for m, n in sorted(per_minute.items())
        ],
        "latency_seconds": {
            "p50": _percentile(values, 50), "p95": _percentile(values, 95),
            "p99": _percentile(values, 99),
        },
    }
