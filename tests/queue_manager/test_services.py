import asyncio
import json
from collections.abc import Callable

import aio_pika
import pytest
from fastapi.testclient import TestClient

from queue_manager.settings import Settings
from tests.queue_manager.conftest import model_bytes, upload

SERVICE = {"name": "svc_a", "dataset": "roaster", "queue": "gits_q_A"}


@pytest.fixture
def models(client: TestClient, dataset: dict) -> None:
    upload(client)
    upload(client)


def test_create_list_get_update_delete(client: TestClient, models: None) -> None:
    created = client.post("/queue_manager/services", json={**SERVICE, "algorithm": {"name": "m", "version": 1}})
    assert created.status_code == 201, created.text
    assert created.json()["assignment_revision"] == 1 and created.json()["enabled"] is True
    assert [s["name"] for s in client.get("/queue_manager/services").json()] == ["svc_a"]
    r = client.patch("/queue_manager/services/svc_a", json={"algorithm": {"name": "m", "version": 2}})
    assert r.json()["algorithm"] == {"name": "m", "version": 2} and r.json()["assignment_revision"] == 2
    r = client.patch("/queue_manager/services/svc_a", json={"description": "roaster line A"})
    assert r.json()["assignment_revision"] == 2, "a description is not an assignment change"
    r = client.patch("/queue_manager/services/svc_a", json={"algorithm": None})
    assert r.json()["algorithm"] is None and r.json()["assignment_revision"] == 3
    assert client.delete("/queue_manager/services/svc_a").status_code == 204
    assert client.get("/queue_manager/services/svc_a").status_code == 404


def test_reference_get_services(client: TestClient, models: None) -> None:
    client.post("/queue_manager/services", json=SERVICE)
    client.post("/queue_manager/services", json={**SERVICE, "name": "svc_b"})
    one = client.get("/queue_manager/get_services", params={"service_name": "svc_a"}).json()
    assert [s["name"] for s in one] == ["svc_a"] and one[0]["queue"] == "gits_q_A"
    assert len(client.get("/queue_manager/get_services").json()) == 2


def test_bad_services_are_4xx(client: TestClient, models: None) -> None:
    assert client.post("/queue_manager/services", json=SERVICE).status_code == 201
    assert client.post("/queue_manager/services", json=SERVICE).status_code == 409
    cases = [
        ({**SERVICE, "name": "x", "dataset": "nope"}, 404),
        ({**SERVICE, "name": "x", "algorithm": {"name": "m", "version": 9}}, 404),
        ({**SERVICE, "name": "x", "algorithm": {"name": "m", "version": 0}}, 422),
        ({**SERVICE, "name": "x", "challenger_share": 1.5}, 422),
        ({**SERVICE, "name": "bad name"}, 422),
        ({**SERVICE, "name": "x", "queue": "q with space"}, 422),
    ]
    for body, status in cases:
        response = client.post("/queue_manager/services", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["detail"]
    assert client.patch("/queue_manager/services/nope", json={"enabled": False}).status_code == 404


def test_model_of_another_dataset_is_refused(client: TestClient, models: None) -> None:
    other = {"name": "other_ds", "task": "regression", "features": [{"name": "a"}], "target": "y"}
    client.post("/queue_manager/datasets", json=other)
    upload(client, name="om", dataset="other_ds", content=model_bytes(columns=("a",)))
    response = client.post("/queue_manager/services", json={**SERVICE, "algorithm": {"name": "om", "version": 1}})
    assert response.status_code == 422 and "other_ds" in response.json()["detail"]


async def _collect_events(settings: Settings, client: TestClient, actions: Callable[[], None]) -> list[dict]:
    connection = await aio_pika.connect_robust(settings.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(settings.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="service.svc_a.assignment")
        await asyncio.get_running_loop().run_in_executor(None, actions)
        events: list[dict] = []
        for _ in range(50):
            message = await queue.get(fail=False, no_ack=True)
            if message is None:
                if len(events) >= 2:
                    break
                await asyncio.sleep(0.1)
                continue
            events.append(json.loads(message.body))
        await exchange.delete()
        return events
    finally:
        await connection.close()


def test_assignment_changes_publish_events(client: TestClient, models: None, settings: Settings) -> None:
    def actions() -> None:
        client.post("/queue_manager/services", json={**SERVICE, "algorithm": {"name": "m", "version": 1}})
        client.patch("/queue_manager/services/svc_a", json={"description": "no event for this"})
        client.patch("/queue_manager/services/svc_a", json={"algorithm": {"name": "m", "version": 2}})

    events = asyncio.run(_collect_events(settings, client, actions))
    assert [e["algorithm"]["version"] for e in events] == [1, 2]
    assert [e["assignment_revision"] for e in events] == [1, 2]
    assert all(e["event"] == "assignment_changed" and e["queue"] == "gits_q_A" for e in events)


def test_service_change_succeeds_with_the_broker_down(mongo_uri: str, api_token: str, dataset: dict) -> None:
    from queue_manager.main import create_app

    settings = Settings(mongodb_uri=mongo_uri, api_token=api_token, amqp_url="amqp://guest:guest@127.0.0.1:1/")
    with TestClient(create_app(settings)) as c:
        c.headers["Authorization"] = f"Bearer {api_token}"
        assert c.post("/queue_manager/services", json=SERVICE).status_code == 201
        assert c.get("/ready").status_code == 503


def test_resending_the_same_falsy_values_is_no_assignment_change(client: TestClient, models: None) -> None:
    client.post("/queue_manager/services", json={**SERVICE, "enabled": False, "challenger_share": 0.0})
    r = client.patch("/queue_manager/services/svc_a", json={"enabled": False, "challenger_share": 0.0})
    assert r.json()["assignment_revision"] == 1
    r = client.patch("/queue_manager/services/svc_a", json={"enabled": True})
    assert r.json()["assignment_revision"] == 2


def test_null_in_an_update_means_the_default_or_is_refused(client: TestClient, models: None) -> None:
    # PATCH {"queue": null} answered 500 (the stored document could not be read back): every field now either
    # means something with null (what a new service gets) or is refused with a 422 that says so.
    client.post("/queue_manager/services", json={
        **SERVICE, "algorithm": {"name": "m", "version": 1}, "challenger": {"name": "m", "version": 2},
        "challenger_mode": "shadow", "challenger_share": 0.4, "payload_key": "values", "description": "line A",
        "challenger_policy": {"auto_promote": True}, "retraining": {"on": ["drift_detected"]}})
    for field in ("dataset", "queue", "enabled"):
        response = client.patch("/queue_manager/services/svc_a", json={field: None})
        assert response.status_code == 422, response.text
        assert f"{field} cannot be null" in response.json()["detail"], response.text
    r = client.patch("/queue_manager/services/svc_a", json={
        "challenger_mode": None, "challenger_share": None, "challenger_policy": None, "payload_key": None,
        "description": None, "retraining": None})
    assert r.status_code == 200, r.text
    service = r.json()
    assert (service["challenger_mode"], service["challenger_share"]) == ("split", 0.0), "a challenger's default mode"
    assert service["challenger_policy"]["auto_promote"] is False and service["retraining"]["on"] == []
    assert (service["payload_key"], service["description"], service["queue"]) == ("data", "", "gits_q_A")
    r = client.patch("/queue_manager/services/svc_a", json={"challenger": None, "algorithm": None})
    assert (r.json()["challenger"], r.json()["challenger_mode"], r.json()["algorithm"]) == (None, None, None)
    assert client.get("/queue_manager/services/svc_a").status_code == 200
    assert client.get("/queue_manager/services").status_code == 200


def test_update_fields_out_of_range_are_422(client: TestClient, models: None) -> None:
    client.post("/queue_manager/services", json=SERVICE)
    for body in ({"description": "x" * 10_001}, {"algorithm": {"name": "m", "version": 2**63}},
                 {"challenger_share": 1e300}, {"challenger_policy": {"min_labelled_rows": 2**64}}):
        response = client.patch("/queue_manager/services/svc_a", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"]
