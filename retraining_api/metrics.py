"""retraining_api's gauges, read from retraining_runs: runs by dataset and status, and the last failure.

The executor (another process) moves runs on, so the figures are read from the table (conveyor.api.store_metrics).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from conveyor.api.store_metrics import READ_INTERVAL_SECONDS, Family, Reading, StoreGauges
from conveyor.pg import Database

RUNS = Family("retraining_runs", "Retraining runs by dataset and status (queued, running, finished, failed, ...)",
              ("dataset", "status"))
LAST_FAILED = Family("retraining_last_failed_timestamp_seconds",
                     "When the dataset's latest failed retraining run ended (Unix time)", ("dataset",))


def read_runs(db: Database) -> Reading:
    rows = db.all("SELECT dataset, status, count(*) AS runs, "
                  "extract(epoch FROM max(finished_at)) AS last_finished "
                  "FROM retraining_runs GROUP BY dataset, status")
    return {
        RUNS.name: [((r["dataset"], r["status"]), float(r["runs"])) for r in rows],
        LAST_FAILED.name: [((r["dataset"],), float(r["last_finished"])) for r in rows
                           if r["status"] == "failed" and r["last_finished"] is not None],
    }


def retraining_gauges(db: Database, registry: CollectorRegistry,
                      interval: float = READ_INTERVAL_SECONDS) -> StoreGauges:
    return StoreGauges("retraining", (RUNS, LAST_FAILED), lambda: read_runs(db), registry, interval)
