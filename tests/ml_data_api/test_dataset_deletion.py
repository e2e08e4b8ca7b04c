"""A dataset deleted in queue_manager loses its tables in ml_data_api (both real, on the real broker)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import psycopg2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conveyor.amqp import connect, declare_events_exchange, publish_event
from conveyor.schemas.datasets import DatasetDeleted
from conveyor_tools import devstack
from ml_data_api.dataset_events import DatasetEvents
from ml_data_api.main import create_app as create_ml_data_api
from ml_data_api.settings import Settings as MLDataSettings
from queue_manager.main import create_app as create_queue_manager
from queue_manager.settings import Settings as QueueManagerSettings
from tests.ml_data_api.conftest import row, schema
from tests.queue_manager_server import queue_manager
from tests.support import wait_for

DEADLINE = 20.0


def wait_until(condition: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    wait_for(condition, timeout, what, interval=0.05)


def tables_of(database_url: str, dataset: str) -> list[str]:
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relname LIKE %s AND relkind IN ('r', 'p') ORDER BY 1",
                    (f"{dataset}%",))
        return [r[0] for r in cur.fetchall()]


@dataclass
class Platform:
    queue_manager: httpx.Client  # the server that answers ml_data_api's lookups
    ml_data: TestClient
    events: DatasetEvents
    settings: MLDataSettings


@contextmanager
def running_ml_data_api(settings: MLDataSettings) -> Iterator[tuple[TestClient, DatasetEvents]]:
    app = create_ml_data_api(settings)
    with TestClient(app, headers={"Authorization": f"Bearer {settings.api_token}"}) as ml:
        events: DatasetEvents = app.state.dataset_events
        wait_until(lambda: events.subscribed, "ml_data_api subscribing to dataset events")
        yield ml, events


@contextmanager
def running_queue_manager(
    mongo_uri: str, pg_url: str, api_token: str, amqp_url: str, unique_name: str
) -> Iterator[tuple[httpx.Client, MLDataSettings]]:
    """queue_manager served over HTTP, and the settings of an ml_data_api following its deletions."""
    exchange = f"{unique_name}.events"
    headers = {"Authorization": f"Bearer {api_token}"}
    with queue_manager(mongo_uri, api_token, amqp_url, exchange) as qm_url, \
            httpx.Client(base_url=qm_url, headers=headers) as qm:
        yield qm, MLDataSettings(
            database_url=pg_url, api_token=api_token, queue_manager_url=qm_url, amqp_url=amqp_url,
            events_exchange=exchange, events_queue=f"{unique_name}.ml_data_api", events_queue_expires_ms=60_000,
        )


@contextmanager
def running_platform(
    mongo_uri: str, pg_url: str, api_token: str, amqp_url: str, unique_name: str
) -> Iterator[Platform]:
    with running_queue_manager(mongo_uri, pg_url, api_token, amqp_url, unique_name) as (qm, settings), \
            running_ml_data_api(settings) as (ml, events):
        yield Platform(qm, ml, events, settings)


@pytest.fixture
def platform(mongo_uri: str, pg_url: str, api_token: str, amqp_url: str, unique_name: str) -> Iterator[Platform]:
    with running_platform(mongo_uri, pg_url, api_token, amqp_url, unique_name) as running:
        yield running


def test_a_dataset_deleted_in_queue_manager_loses_its_tables(platform: Platform, unique_name: str) -> None:
    assert platform.queue_manager.post("/queue_manager/datasets", json=schema(unique_name)).status_code == 201
    inserted = platform.ml_data.post(f"/ml_data_api/datasets/{unique_name}/training/rows", json={"rows": [row(1)]})
    assert inserted.json() == {"inserted": 1, "duplicates": 0, "duplicate_record_ids": []}, \
        "tables made from queue_manager's schema"
    assert tables_of(platform.settings.database_url, unique_name)

    assert platform.queue_manager.delete(f"/queue_manager/datasets/{unique_name}").status_code == 204
    wait_until(lambda: not tables_of(platform.settings.database_url, unique_name),
               f"ml_data_api dropping the tables of {unique_name}")
    missing = platform.ml_data.get(f"/ml_data_api/datasets/{unique_name}/counts")
    assert missing.status_code == 404 and "queue_manager" in missing.json()["detail"]


def test_a_dataset_registered_again_with_another_shape_loses_its_stale_tables(
    platform: Platform, unique_name: str
) -> None:
    platform.queue_manager.post("/queue_manager/datasets", json=schema(unique_name))
    platform.ml_data.post(f"/ml_data_api/datasets/{unique_name}/training/rows", json={"rows": [row(1)]})
    platform.queue_manager.delete(f"/queue_manager/datasets/{unique_name}")
    platform.queue_manager.post("/queue_manager/datasets", json={**schema(unique_name), "target": "grade"})
    wait_until(lambda: platform.events.handled >= 1, "ml_data_api handling the deletion")
    counts = platform.ml_data.get(f"/ml_data_api/datasets/{unique_name}/counts")
    assert counts.json() == {"training": 0, "testing": 0, "production": 0, "labeled": 0}
    assert platform.ml_data.get(f"/ml_data_api/datasets/{unique_name}").json()["target"] == "grade"


def test_an_event_for_a_dataset_still_registered_keeps_its_tables(
    platform: Platform, unique_name: str, amqp_url: str
) -> None:
    """Another deployment on the same exchange deleting a dataset of the same name touches nothing here."""
    platform.queue_manager.post("/queue_manager/datasets", json=schema(unique_name))
    platform.ml_data.post(f"/ml_data_api/datasets/{unique_name}/training/rows", json={"rows": [row(1)]})
    event = DatasetDeleted(dataset=unique_name, created_at=datetime.now(UTC), at=datetime.now(UTC))

    async def publish() -> None:
        connection = await connect(amqp_url)
        async with connection:
            exchange = await declare_events_exchange(await connection.channel(), platform.settings.events_exchange)
            await publish_event(exchange, f"dataset.{unique_name}.deleted", event.model_dump(mode="json"))

    asyncio.run(publish())
    wait_until(lambda: platform.events.handled >= 1, "ml_data_api handling the event")
    assert platform.ml_data.get(f"/ml_data_api/datasets/{unique_name}/counts").json()["training"] == 1


def test_delete_of_a_dataset_unknown_here_creates_no_tables(platform: Platform, unique_name: str) -> None:
    """queue_manager knows it, ml_data_api has no tables: DELETE answers 404 without making them first."""
    platform.queue_manager.post("/queue_manager/datasets", json=schema(unique_name))
    response = platform.ml_data.delete(f"/ml_data_api/datasets/{unique_name}")
    assert response.status_code == 404 and "nothing to delete" in response.json()["detail"]
    assert tables_of(platform.settings.database_url, unique_name) == []


def test_a_deletion_made_while_ml_data_api_is_down_is_applied_when_it_is_back(
    mongo_uri: str, pg_url: str, api_token: str, amqp_url: str, unique_name: str
) -> None:
    with running_queue_manager(mongo_uri, pg_url, api_token, amqp_url, unique_name) as (qm, settings):
        qm.post("/queue_manager/datasets", json=schema(unique_name))
        with running_ml_data_api(settings) as (ml, _):
            ml.post(f"/ml_data_api/datasets/{unique_name}/training/rows", json={"rows": [row(1)]})
        assert qm.delete(f"/queue_manager/datasets/{unique_name}").status_code == 204
        assert tables_of(settings.database_url, unique_name), "ml_data_api is down: nobody dropped them yet"
        with running_ml_data_api(settings) as (_, events):
            wait_until(lambda: events.handled >= 1, "ml_data_api, back, handling the deletion from its queue")
            assert tables_of(settings.database_url, unique_name) == []


def test_tables_queue_manager_does_not_know_are_reported_not_dropped(
    mongo_uri: str, pg_url: str, api_token: str, amqp_url: str, unique_name: str
) -> None:
    """Registered here with PUT (or deleted in queue_manager while no queue listened): kept, and named."""
    standalone = MLDataSettings(database_url=pg_url, api_token=api_token, queue_manager_url="")
    with TestClient(create_ml_data_api(standalone), headers={"Authorization": f"Bearer {api_token}"}) as ml:
        assert ml.put(f"/ml_data_api/datasets/{unique_name}", json=schema(unique_name)).status_code == 201
    with running_platform(mongo_uri, pg_url, api_token, amqp_url, unique_name) as platform:
        wait_until(lambda: platform.events.unowned is not None, "ml_data_api comparing datasets with queue_manager")
        assert unique_name in (platform.events.unowned or [])
        assert tables_of(platform.settings.database_url, unique_name)


def test_queue_manager_refuses_a_deletion_it_cannot_announce(mongo_uri: str, api_token: str) -> None:
    settings = QueueManagerSettings(mongodb_uri=mongo_uri, api_token=api_token,
                                    amqp_url="amqp://guest:guest@127.0.0.1:1/")
    with TestClient(create_queue_manager(settings), headers={"Authorization": f"Bearer {api_token}"}) as qm:
        qm.post("/queue_manager/datasets", json=schema("kept"))
        response = qm.delete("/queue_manager/datasets/kept")
        assert response.status_code == 503 and "broker is unreachable" in response.json()["detail"]
        assert qm.get("/queue_manager/datasets/kept").status_code == 200


def test_readiness_creates_no_tables(api_token: str) -> None:
    database = devstack.create_database()
    try:
        url = devstack.database_url(database)
        app: FastAPI = create_ml_data_api(MLDataSettings(database_url=url, api_token=api_token, queue_manager_url=""))
        with TestClient(app) as ml:
            assert tables_of(url, "conveyor_datasets") == ["conveyor_datasets"], "made once, at start-up"
            with psycopg2.connect(url) as conn, conn.cursor() as cur:
                cur.execute("DROP TABLE conveyor_datasets")
            assert ml.get("/ready").status_code == 200
            assert tables_of(url, "conveyor_datasets") == [], "the probe only asks whether PostgreSQL answers"
    finally:
        devstack.drop_database(database)


def test_tables_dropped_under_a_cached_dataset_answer_404_and_the_dataset_can_be_registered_again(
    client: TestClient, dataset: str, pg_url: str
) -> None:
    """Another replica (or a deletion racing the request) drops the tables of a dataset this process has cached."""
    assert client.post(f"/ml_data_api/datasets/{dataset}/training/rows", json={"rows": [row(1)]}).status_code == 200
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        for name in tables_of(pg_url, dataset):
            cur.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')
        cur.execute("DELETE FROM conveyor_datasets WHERE name = %s", (dataset,))

    gone = client.get(f"/ml_data_api/datasets/{dataset}/training/rows")
    assert gone.status_code == 404, gone.text
    assert "were dropped while the request ran" in gone.json()["detail"]
    # The stale schema is forgotten: the next request looks the dataset up and finds it unregistered.
    unknown = client.get(f"/ml_data_api/datasets/{dataset}/training/rows")
    assert unknown.status_code == 404 and "is not registered" in unknown.json()["detail"], unknown.text

    assert client.put(f"/ml_data_api/datasets/{dataset}", json=schema(dataset)).status_code == 201
    assert client.post(f"/ml_data_api/datasets/{dataset}/training/rows", json={"rows": [row(2)]}).status_code == 200
    assert client.get(f"/ml_data_api/datasets/{dataset}/training/rows").json()["total"] == 1
