"""/ready of monitoring_api and retraining_api asks PostgreSQL `SELECT 1`; the tables come from start-up only."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conveyor_tools import devstack

TABLES = {"monitoring_api": ("monitoring_alerts", "monitoring_episodes", "monitoring_checks",
                             "monitoring_model_references"),
          "retraining_api": ("retraining_runs", "retraining_explainers")}
NOWHERE = "http://127.0.0.1:9"  # peers and broker unreachable: readiness depends on PostgreSQL alone


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = devstack.create_database()
    monkeypatch.setenv("DATABASE_URL", devstack.database_url(name))
    for peer in ("QUEUE_MANAGER_URL", "ML_DATA_API_URL"):
        monkeypatch.setenv(peer, NOWHERE)
    monkeypatch.setenv("AMQP_URL", "amqp://guest:guest@127.0.0.1:9/")
    monkeypatch.setenv("CHECK_INTERVAL_SECONDS", "0")
    monkeypatch.setenv("RETRAINING_WARM_PYCARET", "false")
    try:
        yield devstack.database_url(name)
    finally:
        devstack.drop_database(name)


def _app(service: str) -> FastAPI:
    if service == "monitoring_api":
        from monitoring_api.main import create_app as monitoring_app

        return monitoring_app()
    from retraining_api.main import create_app as retraining_app

    return retraining_app()


def _existing(url: str, tables: tuple[str, ...]) -> set[str]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE tablename = ANY(%s)", (list(tables),))
        found = {row[0] for row in cur.fetchall()}
    conn.close()
    return found


@pytest.mark.parametrize("service", sorted(TABLES))
def test_ready_pings_the_database_and_creates_no_table(service: str, database: str) -> None:
    tables = TABLES[service]
    with TestClient(_app(service)) as client:
        assert _existing(database, tables) == set(tables), "start-up creates the tables"
        assert client.get("/ready").status_code == 200
        with psycopg2.connect(database) as conn, conn.cursor() as cur:
            cur.execute(f"DROP TABLE {', '.join(tables)}")
        conn.close()
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["checks"] == {"postgresql": "ok"}, ready.text
        assert _existing(database, tables) == set(), "a readiness probe created tables again"
