"""The gauges read from the stores follow the facts: an episode opens and resolves, a run fails, a model is
assigned; a store that cannot be read keeps the last reading and counts the failure."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import mongoengine
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from conveyor.api.store_metrics import Family, StoreGauges
from conveyor.pg import Database
from monitoring_api.check_store import DDL as MONITORING_DDL
from monitoring_api.metrics import monitoring_gauges
from queue_manager.metrics import queue_manager_gauges
from queue_manager.models import ServiceDoc
from retraining_api.metrics import retraining_gauges
from retraining_api.store import DDL as RETRAINING_DDL
from retraining_api.store import RunStore


def samples(registry: CollectorRegistry, name: str) -> dict[frozenset, float]:
    text = generate_latest(registry).decode()
    return {frozenset(s.labels.items()): s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name}


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return samples(registry, name).get(frozenset(labels.items()))


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url, 2)
    database.run(MONITORING_DDL + RETRAINING_DDL)
    yield database
    database.close()


def test_open_episodes_drift_and_performance_follow_the_checks(db: Database, unique_name: str) -> None:
    registry = CollectorRegistry()
    gauges = monitoring_gauges(db, registry)
    asyncio.run(gauges.refresh())
    assert value(registry, "monitoring_open_episodes", service=unique_name, kind="drift_detected") is None

    check = db.returning(
        "INSERT INTO monitoring_checks (service, dataset, rows_current, rows_labeled, drift_share, model, "
        "model_version, realized, estimated) VALUES (%s, 'd', 500, 400, 0.25, 'm', 3, "
        "'{\"rows\": 400, \"mae\": 1.5, \"r2\": null}', '{\"rows\": 500, \"mae\": 1.2, \"method\": \"DLE\"}') "
        "RETURNING id", (unique_name,))
    db.run("INSERT INTO monitoring_episodes (service, dataset, kind, status, started_at, first_check_id, "
           "last_check_id, checks) VALUES (%s, 'd', 'drift_detected', 'open', now(), %s, %s, 1)",
           (unique_name, check["id"], check["id"]))
    asyncio.run(gauges.refresh())
    assert value(registry, "monitoring_open_episodes", service=unique_name, kind="drift_detected") == 1
    assert value(registry, "monitoring_drift_share", service=unique_name) == 0.25
    assert value(registry, "monitoring_realized_performance", service=unique_name, metric="mae") == 1.5
    assert value(registry, "monitoring_realized_performance", service=unique_name, metric="r2") is None
    assert value(registry, "monitoring_estimated_performance", service=unique_name, metric="mae") == 1.2
    assert value(registry, "monitoring_checked_model_version", service=unique_name, model="m") == 3

    # A later check is the one shown; the resolved episode reads 0, not nothing.
    db.run("INSERT INTO monitoring_checks (service, dataset, rows_current, rows_labeled, drift_share, at) "
           "VALUES (%s, 'd', 500, 0, 0.0, now() + interval '1 second')", (unique_name,))
    db.run("UPDATE monitoring_episodes SET status = 'resolved', ended_at = now() WHERE service = %s",
           (unique_name,))
    asyncio.run(gauges.refresh())
    assert value(registry, "monitoring_open_episodes", service=unique_name, kind="drift_detected") == 0
    assert value(registry, "monitoring_drift_share", service=unique_name) == 0.0
    assert value(registry, "monitoring_realized_performance", service=unique_name, metric="mae") is None


def test_failed_retraining_run_is_counted_with_its_time(db: Database, unique_name: str) -> None:
    registry = CollectorRegistry()
    gauges = retraining_gauges(db, registry)
    store = RunStore(db)
    run = store.create_run(unique_name, "lr", {})
    asyncio.run(gauges.refresh())
    assert value(registry, "retraining_runs", dataset=unique_name, status="queued") == 1
    assert value(registry, "retraining_last_failed_timestamp_seconds", dataset=unique_name) is None

    store.finish_run(run["id"], "failed", error="boom")
    asyncio.run(gauges.refresh())
    assert value(registry, "retraining_runs", dataset=unique_name, status="queued") is None
    assert value(registry, "retraining_runs", dataset=unique_name, status="failed") == 1
    failed_at = value(registry, "retraining_last_failed_timestamp_seconds", dataset=unique_name)
    finished = db.one("SELECT extract(epoch FROM finished_at) AS t FROM retraining_runs WHERE id = %s", (run["id"],))
    assert finished is not None and failed_at == pytest.approx(float(finished["t"]))


def test_assigned_model_versions_follow_the_services(mongo_uri: str, unique_name: str) -> None:
    mongoengine.connect(host=mongo_uri, tz_aware=True, uuidRepresentation="standard")
    try:
        registry = CollectorRegistry()
        gauges = queue_manager_gauges(registry)
        doc = ServiceDoc(name=unique_name, dataset="d", queue="q", algorithm={"name": "m", "version": 2}).save()
        asyncio.run(gauges.refresh())
        labels = {"service": unique_name, "dataset": "d", "model": "m"}
        assert value(registry, "queue_manager_service_model_version", **labels, role="champion") == 2
        assert value(registry, "queue_manager_service_model_version", **labels, role="challenger") is None

        doc.algorithm = {"name": "m", "version": 3}
        doc.challenger = {"name": "m", "version": 4}
        doc.save()
        asyncio.run(gauges.refresh())
        assert value(registry, "queue_manager_service_model_version", **labels, role="champion") == 3
        assert value(registry, "queue_manager_service_model_version", **labels, role="challenger") == 4
    finally:
        mongoengine.disconnect()


def test_a_failed_read_keeps_the_last_reading_and_counts() -> None:
    registry = CollectorRegistry()
    readings = [{"facts": [(("a",), 1.0)]}]

    def read() -> dict:
        if not readings:
            raise ConnectionError("the store is gone")
        return readings.pop()

    gauges = StoreGauges("t", (Family("facts", "facts", ("x",)),), read, registry)
    asyncio.run(gauges.refresh())
    asyncio.run(gauges.refresh())
    assert value(registry, "facts", x="a") == 1.0
    assert value(registry, "t_store_metrics_read_failures_total") == 1.0
