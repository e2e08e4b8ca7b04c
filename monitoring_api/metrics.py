"""monitoring_api's gauges, read from its tables: open alert episodes, and each service's latest check.

Checks run on a schedule and on request, in any replica, so the figures are read from monitoring_episodes and
monitoring_checks (conveyor.api.store_metrics), not counted in memory.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from conveyor.api.store_metrics import READ_INTERVAL_SECONDS, Family, Reading, StoreGauges
from conveyor.pg import Database

EPISODES = Family("monitoring_open_episodes", "Open alert episodes by service and kind (drift_detected, "
                  "performance_degraded): 0 once resolved", ("service", "kind"))
DRIFT = Family("monitoring_drift_share", "Share of features over their calibrated drift thresholds, latest check",
               ("service",))
REALIZED = Family("monitoring_realized_performance", "The task's metrics on labelled rows, latest check",
                  ("service", "metric"))
ESTIMATED = Family("monitoring_estimated_performance", "The task's metrics estimated before labels (DLE, CBPE), "
                   "latest check", ("service", "metric"))
MODEL = Family("monitoring_checked_model_version", "Model version the latest check looked at", ("service", "model"))
LAST_CHECK = Family("monitoring_last_check_timestamp_seconds", "When the service's latest check ran (Unix time)",
                    ("service",))
FAMILIES = (EPISODES, DRIFT, REALIZED, ESTIMATED, MODEL, LAST_CHECK)
METRICS = ("mae", "rmse", "r2", "accuracy", "f1")

# A skip scan: one index probe per service on (service, at), not a scan of every check ever made.
LATEST_CHECKS = """
WITH RECURSIVE services AS (
    SELECT min(service) AS service FROM monitoring_checks
    UNION ALL
    SELECT (SELECT min(service) FROM monitoring_checks WHERE service > s.service) FROM services s
    WHERE s.service IS NOT NULL
)
SELECT c.* FROM services s CROSS JOIN LATERAL (
    SELECT service, extract(epoch FROM at) AS at, drift_share, realized, estimated, model, model_version
    FROM monitoring_checks WHERE service = s.service ORDER BY at DESC LIMIT 1
) c
"""


def _figures(service: str, values: dict[str, Any] | None) -> list[tuple[tuple[str, ...], float]]:
    return [((service, name), float(values[name])) for name in METRICS
            if values and isinstance(values.get(name), int | float)]


def read_monitoring(db: Database) -> Reading:
    episodes = db.all("SELECT service, kind, count(*) FILTER (WHERE status = 'open') AS open "
                      "FROM monitoring_episodes GROUP BY service, kind")
    checks = db.all(LATEST_CHECKS)
    return {
        EPISODES.name: [((e["service"], e["kind"]), float(e["open"])) for e in episodes],
        DRIFT.name: [((c["service"],), float(c["drift_share"])) for c in checks if c["drift_share"] is not None],
        REALIZED.name: [s for c in checks for s in _figures(c["service"], c["realized"])],
        ESTIMATED.name: [s for c in checks for s in _figures(c["service"], c["estimated"])],
        MODEL.name: [((c["service"], c["model"]), float(c["model_version"])) for c in checks
                     if c["model"] and c["model_version"] is not None],
        LAST_CHECK.name: [((c["service"],), float(c["at"])) for c in checks],
    }


def monitoring_gauges(db: Database, registry: CollectorRegistry,
                      interval: float = READ_INTERVAL_SECONDS) -> StoreGauges:
    return StoreGauges("monitoring", FAMILIES, lambda: read_monitoring(db), registry, interval)
