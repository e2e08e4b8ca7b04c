"""Champion and challenger in queue_manager: the rules, the history, promotion, the challenger's health."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest
from fastapi.testclient import TestClient
from mongoengine.connection import get_db

from conveyor.clients import QueueManagerClient
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.datasets import DatasetSchema
from conveyor.schemas.services import (
    ChallengerHealth,
    ChallengerMode,
    ChallengerPromotion,
    OldChampion,
    ServiceCreate,
    ServiceUpdate,
)
from queue_manager.settings import Settings
from tests.queue_manager.conftest import DATASET, model_bytes, upload
from tests.queue_manager_server import queue_manager
from tests.support import wait_for_async

SERVICES = "/queue_manager/services"
V1, V2, V3 = ({"name": "m", "version": v} for v in (1, 2, 3))
SERVICE: dict[str, Any] = {"name": "svc_c", "dataset": "roaster", "queue": "q_c", "algorithm": V1}
NEEDS_CHALLENGER = ("challenger_mode shadow needs a challenger: set challenger={name, version} or remove "
                    "challenger_mode")


@pytest.fixture
def models(client: TestClient, dataset: dict) -> None:
    upload(client, stage="production")
    upload(client)
    upload(client)


def _service(client: TestClient, **fields: object) -> dict:
    response = client.post(SERVICES, json={**SERVICE, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def _patch(client: TestClient, body: dict, status: int = 200, name: str = "svc_c", **headers: str) -> dict:
    response = client.patch(f"{SERVICES}/{name}", json=body, headers=headers)
    assert response.status_code == status, (body, response.text)
    return response.json()


def _history(client: TestClient, name: str = "svc_c") -> list[dict]:
    response = client.get(f"{SERVICES}/{name}/history")
    assert response.status_code == 200, response.text
    return response.json()


def _stage(client: TestClient, version: int) -> str:
    return str(client.get(f"/queue_manager/algorithms/m/{version}").json()["stage"])


async def _events_async(settings: Settings, actions: Callable[[], None], count: int) -> list[tuple[str, dict]]:
    connection = await aio_pika.connect_robust(settings.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(settings.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="service.#")
        await asyncio.get_running_loop().run_in_executor(None, actions)
        events: list[tuple[str, dict]] = []

        async def drained() -> bool:
            while (message := await queue.get(fail=False, no_ack=True)) is not None:
                events.append((message.routing_key or "", json.loads(message.body)))
            return len(events) >= count

        # Publishing is confirmed before a request answers: once `count` came, whatever else there is is here.
        await wait_for_async(drained, 10, f"{count} service events", interval=0.05,
                             details=lambda: f"got {events}")
        await exchange.delete()
        return events
    finally:
        await connection.close()


def _events(settings: Settings, actions: Callable[[], None], count: int) -> list[tuple[str, dict]]:
    """The events the actions publish (routing key, body), in order; at least `count` are awaited."""
    return asyncio.run(_events_async(settings, actions, count))


def test_bad_challengers_are_422_saying_which(client: TestClient, models: None) -> None:
    client.post("/queue_manager/datasets", json={**DATASET, "name": "other_ds"})
    upload(client, name="om", dataset="other_ds")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"challenger": {"name": "om", "version": 1}}, "trained for dataset 'other_ds', not 'roaster'"),
        ({"challenger": V1}, "challenger 'm' v1 is the champion itself"),
        ({"challenger": V2, "challenger_share": 1.5}, "challenger_share: Input should be less than or equal to 1"),
        ({"challenger": V2, "challenger_share": -0.1}, "challenger_share: Input should be greater than or equal"),
        ({"challenger_mode": "shadow"}, NEEDS_CHALLENGER),
        ({"challenger_mode": "split"}, "challenger_mode split needs a challenger"),
        ({"challenger": V2, "challenger_mode": "ab"}, "challenger_mode: Input should be 'split' or 'shadow'"),
        ({"algorithm": None, "challenger": V2}, "challenger 'm' v2 has no champion to compete with"),
    ]
    for fields, message in cases:
        response = client.post(SERVICES, json={**SERVICE, **fields})
        assert response.status_code == 422 and message in response.json()["detail"], (fields, response.text)
    assert client.get(f"{SERVICES}/svc_c").status_code == 404, "nothing refused was stored"

    _service(client)
    assert _patch(client, {"challenger_mode": "shadow"}, 422)["detail"] == NEEDS_CHALLENGER
    _service(client, name="svc_d", challenger=V2, challenger_mode="shadow")
    patches: list[tuple[dict[str, Any], str]] = [
        ({"challenger": None, "challenger_mode": "shadow"}, NEEDS_CHALLENGER),
        ({"challenger": V1}, "challenger 'm' v1 is the champion itself"),
        ({"algorithm": V3, "challenger": V3}, "challenger 'm' v3 is the champion itself"),
        ({"challenger_share": 2}, "challenger_share: Input should be less than or equal to 1"),
        ({"algorithm": None}, "challenger 'm' v2 has no champion to compete with"),
        ({"dataset": "other_ds"}, "trained for dataset 'roaster', not 'other_ds'"),
    ]
    for body, message in patches:
        assert message in _patch(client, body, 422, name="svc_d")["detail"], body
    unchanged = client.get(f"{SERVICES}/svc_d").json()
    assert (unchanged["challenger"], unchanged["challenger_mode"], unchanged["assignment_revision"]) == (
        V2, "shadow", 1)


def test_modes_clearing_and_assignment_events(client: TestClient, models: None, settings: Settings) -> None:
    answers: list[dict] = []

    def actions() -> None:
        answers.append(_service(client, challenger=V2, challenger_share=0.3))
        answers.append(_patch(client, {"challenger_mode": "shadow"}))
        answers.append(_patch(client, {"challenger_mode": "shadow", "description": "no change"}))
        answers.append(_patch(client, {"challenger": None}))
        answers.append(_patch(client, {"challenger": V3}))  # again without a mode: split

    events = _events(settings, actions, 4)
    created, shadow, same, cleared, split_again = answers
    assert created["challenger_mode"] == "split", "a challenger without a mode is a split one (old clients)"
    assert (shadow["challenger_mode"], shadow["assignment_revision"]) == ("shadow", 2)
    assert same["assignment_revision"] == 2, "re-sending the mode is no assignment change"
    assert (cleared["challenger"], cleared["challenger_mode"], cleared["challenger_share"]) == (None, None, 0.3)
    assert cleared["assignment_revision"] == 3
    assert (split_again["challenger"], split_again["challenger_mode"]) == (V3, "split")
    assert [key for key, _ in events] == ["service.svc_c.assignment"] * 4
    bodies = [body for _, body in events]
    assert [(b["challenger_mode"], b["assignment_revision"]) for b in bodies] == [
        ("split", 1), ("shadow", 2), (None, 3), ("split", 4)]
    assert bodies[2]["challenger"] is None and bodies[2]["challenger_share"] == 0.3


def test_history_says_who_and_what(client: TestClient, models: None) -> None:
    _service(client, challenger=V2, challenger_mode="shadow")
    client.headers["X-Conveyor-User"] = "alice"
    _patch(client, {"challenger_mode": "split", "challenger_share": 0.25})
    del client.headers["X-Conveyor-User"]
    _patch(client, {"description": "no assignment change, no entry"})
    _patch(client, {"algorithm": V3})
    history = _history(client)
    assert [(h["kind"], h["by"]) for h in history] == [("assignment", "api"), ("assignment", "alice"),
                                                        ("created", "api")]
    assert history[0]["reason"] == "algorithm m v1 -> m v3"
    assert history[1]["reason"] == "challenger_mode shadow -> split; challenger_share 0.0 -> 0.25"
    assert (history[1]["challenger"], history[1]["challenger_mode"], history[1]["challenger_share"]) == (
        V2, "split", 0.25)
    assert history[0]["at"] >= history[1]["at"] >= history[2]["at"]
    assert len(client.get(f"{SERVICES}/svc_c/history", params={"limit": 1}).json()) == 1
    assert "history" not in client.get(f"{SERVICES}/svc_c").json()
    assert client.get(f"{SERVICES}/svc_c/history", headers={"Authorization": ""}).status_code == 401
    assert client.get(f"{SERVICES}/nope/history").status_code == 404


def test_setting_the_champion_to_the_challenger_leaves_no_challenger(client: TestClient, models: None) -> None:
    # What retraining_api's promotion does: it moves the services of the previous version to the new one.
    _service(client, challenger=V2, challenger_mode="shadow")
    moved = _patch(client, {"algorithm": V2})
    assert (moved["algorithm"], moved["challenger"], moved["challenger_mode"]) == (V2, None, None)
    assert _history(client)[0]["reason"] == "algorithm m v1 -> m v2; challenger m v2 -> none; challenger_mode " \
                                            "shadow -> none"


def test_a_service_stored_before_challenger_modes_still_loads(client: TestClient, models: None) -> None:
    at = datetime.now(UTC)
    get_db()["services"].insert_one({
        "name": "svc_old", "dataset": "roaster", "queue": "q_old", "algorithm": V1, "challenger": V2,
        "challenger_share": 0.1, "enabled": True, "payload_key": "data", "description": "", "retraining": {},
        "assignment_revision": 4, "created_at": at, "updated_at": at,
    })
    old = client.get(f"{SERVICES}/svc_old").json()
    assert (old["challenger_mode"], old["challenger_health"]) == ("split", None)
    assert old["challenger_policy"] == {"auto_promote": False, "min_labelled_rows": 200, "confidence": 0.95,
                                        "old_champion": "archive"}
    assert _history(client, "svc_old") == []
    assert [s["name"] for s in client.get("/queue_manager/get_services").json()] == ["svc_old"]
    changed = _patch(client, {"challenger_mode": "shadow"}, name="svc_old")
    assert (changed["challenger_mode"], changed["assignment_revision"]) == ("shadow", 5)
    assert [h["kind"] for h in _history(client, "svc_old")] == ["assignment"]


def test_promote_archives_the_old_champion(client: TestClient, models: None, settings: Settings) -> None:
    _service(client, challenger=V2, challenger_mode="shadow")
    answers: list[dict] = []

    def actions() -> None:
        response = client.post(f"{SERVICES}/svc_c/challenger/promote",
                               json={"by": "bob", "reason": "MAE 0.8 lower", "expected_challenger": V2})
        assert response.status_code == 200, response.text
        answers.append(response.json())

    events = _events(settings, actions, 2)
    promoted = answers[0]
    assert (promoted["champion"], promoted["previous_champion"], promoted["challenger"]) == (V2, V1, None)
    assert (promoted["by"], promoted["reason"], promoted["event"]) == ("bob", "MAE 0.8 lower", "challenger_promoted")
    service = client.get(f"{SERVICES}/svc_c").json()
    assert (service["algorithm"], service["challenger"], service["challenger_mode"]) == (V2, None, None)
    assert service["assignment_revision"] == promoted["assignment_revision"] == 2
    assert [key for key, _ in events] == ["service.svc_c.assignment", "service.svc_c.challenger_promoted"]
    assignment, announced = events[0][1], events[1][1]
    assert (assignment["algorithm"], assignment["challenger"], assignment["challenger_mode"]) == (V2, None, None)
    assert announced == promoted
    assert (_stage(client, 2), _stage(client, 1)) == ("production", "archived")
    stages = client.get("/queue_manager/algorithms/m/1").json()["stage_history"]
    assert (stages[-1]["by"], stages[-1]["reason"]) == ("bob", "replaced as champion of service 'svc_c' by 'm' v2")
    latest = _history(client)[0]
    assert (latest["kind"], latest["by"], latest["reason"], latest["algorithm"]) == (
        "challenger_promoted", "bob", "MAE 0.8 lower", V2)


def test_promote_keeps_a_champion_another_service_applies(client: TestClient, models: None) -> None:
    _service(client, challenger=V2)
    _service(client, name="svc_other", algorithm=V1)
    response = client.post(f"{SERVICES}/svc_c/challenger/promote", json={"reason": "by hand"})
    assert response.status_code == 200, response.text
    assert response.json()["by"] == "api"
    assert (_stage(client, 2), _stage(client, 1)) == ("production", "production"), "svc_other still applies v1"


def test_promote_keeping_the_old_champion_as_challenger(client: TestClient, models: None,
                                                        settings: Settings) -> None:
    _service(client, challenger=V2, challenger_mode="shadow")
    answers: list[dict] = []

    def actions() -> None:
        response = client.post(f"{SERVICES}/svc_c/challenger/promote", json={"old_champion": "challenger"},
                               headers={"X-Conveyor-User": "carol"})
        answers.append(response.json())

    events = _events(settings, actions, 2)
    assert (answers[0]["champion"], answers[0]["challenger"], answers[0]["by"]) == (V2, V1, "carol")
    service = client.get(f"{SERVICES}/svc_c").json()
    assert (service["algorithm"], service["challenger"], service["challenger_mode"]) == (V2, V1, "shadow")
    assert events[0][1]["challenger_mode"] == "shadow" and events[0][1]["challenger"] == V1
    assert (_stage(client, 2), _stage(client, 1)) == ("production", "production"), "v1 still predicts"
    assert (_history(client)[0]["kind"], _history(client)[0]["challenger"]) == ("challenger_promoted", V1)


def test_promote_refuses_409(client: TestClient, models: None) -> None:
    _service(client)
    response = client.post(f"{SERVICES}/svc_c/challenger/promote", json={})
    assert response.status_code == 409 and "has no challenger to promote" in response.json()["detail"]
    _patch(client, {"challenger": V3})
    response = client.post(f"{SERVICES}/svc_c/challenger/promote", json={"expected_challenger": V2})
    assert response.status_code == 409, response.text
    assert "the challenger of service 'svc_c' is 'm' v3, not 'm' v2" in response.json()["detail"]
    assert client.get(f"{SERVICES}/svc_c").json()["algorithm"] == V1, "nothing changed"
    assert client.post(f"{SERVICES}/nope/challenger/promote", json={}).status_code == 404
    assert client.post(f"{SERVICES}/svc_c/challenger/promote", json={"old_champion": "keep"}).status_code == 422
    anonymous = client.post(f"{SERVICES}/svc_c/challenger/promote", json={}, headers={"Authorization": ""})
    assert anonymous.status_code == 401


def test_challenger_health_changes_are_recorded_once(client: TestClient, models: None,
                                                     settings: Settings) -> None:
    _service(client, challenger=V2, challenger_mode="shadow")
    health = f"{SERVICES}/svc_c/challenger/health"
    answers: list[dict] = []

    def actions() -> None:
        for body in ({"state": "ok", "worker": "w1"},
                     {"state": "failing", "error": "ValueError: 3 features expected", "challenger": V2, "worker": "w1"},
                     {"state": "failing", "error": "ValueError: again", "worker": "w2"},
                     {"state": "ok", "worker": "w2"}):
            response = client.put(health, json=body)
            assert response.status_code == 200, response.text
            answers.append(response.json())

    events = _events(settings, actions, 2)
    assert [a["challenger_health"]["state"] for a in answers] == ["ok", "failing", "failing", "ok"]
    assert answers[2]["challenger_health"]["error"] == "ValueError: again"
    assert answers[1]["challenger_health"]["challenger"] == V2 and answers[1]["challenger_health"]["at"]
    assert [key for key, _ in events] == ["service.svc_c.challenger_health"] * 2
    assert [(b["state"], b["service"], b["worker"]) for _, b in events] == [("failing", "svc_c", "w1"),
                                                                          ("ok", "svc_c", "w2")]
    assert answers[-1]["assignment_revision"] == 1, "health is no assignment change"
    history = _history(client)
    assert [(h["kind"], h["by"]) for h in history] == [("challenger_health", "w2"), ("challenger_health", "w1"),
                                                        ("created", "api")]
    assert history[1]["reason"] == "challenger 'm' v2 fails: ValueError: 3 features expected"
    assert history[0]["reason"] == "challenger 'm' v2 predicts again"

    stale = client.put(health, json={"state": "failing", "challenger": V3})
    assert stale.status_code == 409 and "the report is stale" in stale.json()["detail"]
    assert client.put(health, json={"state": "broken"}).status_code == 422
    client.put(health, json={"state": "failing", "error": "boom"})
    assert _patch(client, {"challenger_mode": "split"})["challenger_health"]["state"] == "failing"
    assert _patch(client, {"challenger": V3})["challenger_health"] is None, "a new challenger has no report yet"
    _patch(client, {"challenger": None})
    gone = client.put(health, json={"state": "ok"})
    assert gone.status_code == 409 and "has no challenger" in gone.json()["detail"]


def test_champion_health_changes_are_recorded_once(client: TestClient, models: None,
                                                   settings: Settings) -> None:
    # A worker whose assigned champion does not load reports it here (worker.champion); replicas report the
    # same change, so only a change of state is history and an event.
    _service(client)
    _patch(client, {"algorithm": V2})
    health = f"{SERVICES}/svc_c/champion/health"
    answers: list[dict] = []

    def actions() -> None:
        for body in ({"state": "failing", "error": "load: UnpicklingError: invalid load key", "champion": V2,
                      "serving": V1, "worker": "w1"},
                     {"state": "failing", "error": "load: again", "champion": V2, "serving": V1, "worker": "w2"},
                     {"state": "ok", "champion": V2, "serving": V2, "worker": "w1"}):
            response = client.put(health, json=body)
            assert response.status_code == 200, response.text
            answers.append(response.json())

    events = _events(settings, actions, 2)
    assert [a["champion_health"]["state"] for a in answers] == ["failing", "failing", "ok"]
    assert answers[0]["champion_health"]["serving"] == V1 and answers[0]["champion_health"]["champion"] == V2
    assert [key for key, _ in events if "health" in key] == ["service.svc_c.champion_health"] * 2
    assert [(b["state"], b["worker"]) for key, b in events if "health" in key] == [("failing", "w1"), ("ok", "w1")]
    history = _history(client)
    assert [(h["kind"], h["by"]) for h in history[:2]] == [("champion_health", "w1"), ("champion_health", "w1")]
    assert history[1]["reason"] == ("champion 'm' v2 does not load: load: UnpicklingError: invalid load key; the "
                                    "worker serves 'm' v1")
    assert history[0]["reason"] == "champion 'm' v2 loads again"
    assert answers[-1]["assignment_revision"] == 2, "health is no assignment change"

    # With nothing to serve, the report says the messages wait; a new champion has no report yet.
    client.put(health, json={"state": "failing", "error": "load: SystemExit: 3", "worker": "w3"})
    assert "the messages wait in the queue" in _history(client)[0]["reason"]
    assert _patch(client, {"description": "not the champion"})["champion_health"]["state"] == "failing"
    assert _patch(client, {"algorithm": V3})["champion_health"] is None, "a new champion has no report yet"
    stale = client.put(health, json={"state": "failing", "champion": V2})
    assert stale.status_code == 409 and "the report is stale" in stale.json()["detail"]
    assert client.put(health, json={"state": "failing", "at": "2024-01-01T00:00:00+22:00"}).status_code == 422
    client.put(health, json={"state": "failing", "error": "boom"})
    _patch(client, {"challenger": V2})
    promoted = client.post(f"{SERVICES}/svc_c/challenger/promote", json={})
    assert promoted.status_code == 200 and client.get(f"{SERVICES}/svc_c").json()["champion_health"] is None
    _patch(client, {"algorithm": None})
    gone = client.put(health, json={"state": "ok"})
    assert gone.status_code == 409 and "has no champion" in gone.json()["detail"]
    assert client.put(f"{SERVICES}/nope/champion/health", json={"state": "ok"}).status_code == 404


def test_jobs_are_filtered_by_the_model_role(client: TestClient) -> None:
    jobs = [{"record_id": f"r{i}", "service": "svc_c", "algorithm_name": "m", "algorithm_version": 1 + i % 2,
             "algorithm_role": "challenger" if i % 2 else "champion"} for i in range(6)]
    assert client.post("/queue_manager/jobs/bulk", json={"jobs": jobs}).status_code == 201
    get_db()["jobs"].insert_one({"record_id": "old", "service": "svc_c", "status": "finished",
                                 "history": [], "created_at": datetime.now(UTC), "updated_at": datetime.now(UTC),
                                 "metadata": {}})  # a job from before roles: the champion's

    def records(**params: str) -> list[str]:
        page = client.get("/queue_manager/jobs", params={"service": "svc_c", **params}).json()
        return sorted(j["record_id"] for j in page["jobs"])

    assert records(algorithm_role="challenger") == ["r1", "r3", "r5"]
    assert records(algorithm_role="champion") == ["old", "r0", "r2", "r4"]
    assert len(records()) == 7
    one = client.get("/queue_manager/jobs", params={"record_id": "r1"}).json()["jobs"][0]
    assert (one["algorithm_role"], one["algorithm_version"]) == ("challenger", 2)
    response = client.get("/queue_manager/jobs", params={"algorithm_role": "judge"})
    assert response.status_code == 422 and "algorithm_role" in response.json()["detail"]


def test_client_methods(mongo_uri: str, api_token: str, amqp_url: str) -> None:
    async def scenario(url: str) -> None:
        async with QueueManagerClient(url, token=api_token) as qm:
            await qm.create_dataset(DatasetSchema.model_validate(DATASET))
            for _ in range(2):
                await qm.upload_algorithm(name="m", dataset="roaster", model=model_bytes())
            await qm.create_service(ServiceCreate.model_validate(
                {**SERVICE, "challenger": V2, "challenger_mode": ChallengerMode.split, "challenger_share": 0.5}))
            service = await qm.report_challenger_health("svc_c", ChallengerHealth(state="failing", error="x"))
            assert service.challenger_health is not None and service.challenger_health.state == "failing"
            await qm.update_service("svc_c", ServiceUpdate(challenger_share=0.2), by="dave")
            promoted = await qm.promote_challenger("svc_c", ChallengerPromotion(
                old_champion=OldChampion.challenger, by="monitoring_api", reason="challenger_better",
                expected_challenger=AlgorithmRef.model_validate(V2)))
            assert promoted.model_dump(include={"champion", "challenger"}) == {"champion": V2, "challenger": V1}
            history = await qm.service_history("svc_c")
            assert [(h.kind, h.by) for h in history] == [
                ("challenger_promoted", "monitoring_api"), ("assignment", "dave"), ("challenger_health", "worker"),
                ("created", "api")]
            assert len(await qm.service_history("svc_c", limit=2)) == 2

    with queue_manager(mongo_uri, api_token, amqp_url) as url:
        asyncio.run(scenario(url))
