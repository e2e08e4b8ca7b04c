"""Alert episodes start retraining only where a service's policy says so: one run per episode, which waits
for labelled post-drift rows, trains on them and scores both models on the latest of them."""

from __future__ import annotations

import asyncio
import json
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import Mock

import aio_pika
import httpx
import pandas as pd

from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.pg import Database
from conveyor.schemas.retraining import RunCreate
from conveyor.schemas.services import RetrainingPolicy, RetrainTrigger
from conveyor_tools.demo_dataset import DEMO_FEATURES
from conveyor_tools.stack import Stack
from retraining_api.settings import load_settings
from retraining_api.store import RunStore
from retraining_api.triggers import TriggerListener, read_trigger, triggered_request
from tests.retraining_api.conftest import Seeded, seed
from tests.support import wait_for

COOLDOWN = 6.0  # RETRAINING_TRIGGER_COOLDOWN_SECONDS of the package's stack
T0 = datetime(2016, 6, 1, tzinfo=UTC)  # when the episodes of these tests start: after every seeded row


def _episode(service: str, dataset: str, started_at: datetime, kind: str = "drift_detected") -> dict[str, Any]:
    """An Episode as monitoring_api publishes it; ids are random so that tests sharing the stack never meet."""
    return {"id": random.randint(10**9, 2**62), "service": service, "dataset": dataset, "kind": kind,
            "status": "open", "started_at": started_at.isoformat(), "ended_at": None, "first_check_id": 1,
            "last_check_id": 1, "checks": 1, "features": ["H_data"], "worst": {"drift_share": 0.6},
            "estimated": False, "message": "H_data over its calibrated threshold"}


async def _publish(service: str, kind: str, episode: dict[str, Any] | None = None) -> None:
    connection = await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/")
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange("conveyor.events", aio_pika.ExchangeType.TOPIC, durable=True)
        body: dict[str, Any] = {"event": kind, "service": service, "at": datetime.now(UTC).isoformat(),
                                "value": 0.6, "threshold": 0.3, "estimated": False,
                                "message": "share of drifted columns 0.6 >= 0.3"}
        if episode is not None:
            body["episode"] = episode
        await exchange.publish(aio_pika.Message(json.dumps(body).encode()), routing_key=f"service.{service}.{kind}")


def _alert(service: str, kind: str, episode: dict[str, Any] | None = None) -> None:
    asyncio.run(_publish(service, kind, episode))


def _labelled_rows(seeded: Seeded, service: str, first_hour: int, rows: int, tag: str) -> pd.DataFrame:
    """`rows` labelled production rows of `service`, one an hour from T0 + first_hour (negative: before it)."""
    source = seed_rows(seeded, rows)
    source = source.assign(date_time=[(T0 + timedelta(hours=first_hour + i)).isoformat() for i in range(rows)],
                           record_id=[f"{tag}-{service}-{i}" for i in range(rows)])

    async def post() -> None:
        async with MLDataClient(seeded.stack.ml_url, seeded.stack.config.api_token) as ml:
            body = [{"record_id": r["record_id"], "date_time": r["date_time"], **{f: r[f] for f in DEMO_FEATURES},
                     "prediction": 0.0, "model_name": seeded.model, "model_version": 1, "service": service}
                    for r in source.to_dict("records")]
            await ml.insert_rows(seeded.dataset, "production", body)
            await ml.post_labels(seeded.dataset, [{"record_id": r["record_id"], "label": r["quality"]}
                                                  for r in source.to_dict("records")])

    asyncio.run(post())
    return source


def seed_rows(seeded: Seeded, rows: int) -> pd.DataFrame:
    """Feature and quality values for new rows (the testing split's, reused)."""
    return seeded.testing.sample(rows, replace=True, random_state=rows).reset_index(drop=True)


def _runs(seeded: Seeded) -> list[dict]:
    return httpx.get(f"{seeded.url}/runs", params={"dataset": seeded.dataset}, headers=seeded.read_headers).json()


def _policy(seeded: Seeded, policy: dict) -> None:
    httpx.patch(f"{seeded.stack.qm_url}/queue_manager/services/{seeded.service}", headers=seeded.headers,
                json={"retraining": policy}).raise_for_status()


def _handled(stack: Stack, kind: str, service: str) -> int:
    """How many `kind` alerts for `service` the trigger listener has logged a decision on."""
    log = (stack.logs / "retraining_api.log").read_text(errors="replace")
    return log.count(f"alert {kind} for {service}:") + log.count(f"alert {kind} for {service} started")


def _wait_listening(stack: Stack) -> None:
    """Alerts published before the listener's queue is bound reach no queue of this stack: wait for it to say it
    listens (a few seconds after start-up, longer on a busy machine while PyCaret warms up in the same process)."""
    wait_for(lambda: "through queue retraining_api.triggers" in (stack.logs / "retraining_api.log").read_text(
        errors="replace"), 60, "retraining_api listening for alerts", details=lambda: stack.log_tail("retraining_api"))


def _wait_handled(stack: Stack, kind: str, service: str, times: int) -> None:
    wait_for(lambda: _handled(stack, kind, service) >= times, 30,
             f"retraining_api handling {times} {kind} alert(s) for {service}",
             details=lambda: stack.log_tail("retraining_api"))


def test_an_episode_starts_one_run_that_waits_for_labels_and_trains_on_post_drift_rows(stack: Stack) -> None:
    quiet, allowed = seed(stack, production_rows=0), seed(stack, production_rows=0)
    assert quiet.qm(f"services/{quiet.service}")["retraining"]["on"] == [], "retraining on alerts is off by default"
    _policy(allowed, {"on": ["drift_detected"], "include": ["lr"], "min_labelled_rows": 40, "holdout_share": 0.25})
    # Labelled rows that must not be trained on: before the episode, and after it but of another service.
    _labelled_rows(allowed, allowed.service, -30, 30, "before")
    _labelled_rows(allowed, "another_service", 0, 20, "other")

    episode = _episode(allowed.service, allowed.dataset, T0)
    _wait_listening(stack)
    _alert(quiet.service, "drift_detected", _episode(quiet.service, quiet.dataset, T0))
    _alert(allowed.service, "performance_degraded", episode)  # not in its policy
    _alert(allowed.service, "drift_detected", episode)
    _alert(allowed.service, "drift_detected", episode)  # redelivered: still one run
    _wait_handled(stack, "drift_detected", allowed.service, 2)
    [run] = _runs(allowed)
    assert run["status"] == "waiting_for_labels", run
    assert run["trigger"]["episode_id"] == episode["id"] and run["trigger"]["episode"] == episode
    assert run["trigger"]["event"] == "drift_detected" and run["trigger"]["service"] == allowed.service
    assert run["request"]["training"]["production_start"].startswith("2016-06-01T00:00:00")
    assert run["request"]["holdout"] == {"source": "production", "last": 10, "start": run["request"]["training"]
                                         ["production_start"]}
    assert run["waiting"]["need"] == 40 and run["waiting"]["have"] == 0

    # Labels arrive: counted (only post-drift rows of this service), queued once 40 are there.
    post = _labelled_rows(allowed, allowed.service, 0, 25, "after")
    def counted(have: int) -> dict:
        current = allowed.run(run["id"])
        return current if current["waiting"]["have"] == have else {}

    waiting = wait_for(lambda: counted(25), 30,
                       "the waiting run counting 25 labelled post-drift rows",
                       details=lambda: stack.log_tail("retraining_executor"))
    assert waiting["status"] == "waiting_for_labels"
    # The rest comes once the run is older than the cooldown, so that its end and its start tell apart.
    created = datetime.fromisoformat(run["created_at"])
    wait_for(lambda: datetime.now(UTC) > created + timedelta(seconds=COOLDOWN), COOLDOWN + 5,
             "the run's creation lying further back than the cooldown")
    post = pd.concat([post, _labelled_rows(allowed, allowed.service, 25, 20, "later")], ignore_index=True)
    finished = allowed.wait_run(run["id"])
    assert finished["status"] == "finished" and finished["new_version"] == 2, finished
    assert finished["waiting"]["have"] >= 40
    assert finished["holdout_rows"] == 10
    # The training split and the 35 post-drift rows before the holdout: no earlier row, no other service's.
    assert finished["training_rows"] == len(allowed.training) + 35

    holdout = allowed.qm(f"algorithms/{allowed.model}/2")["holdout"]
    times = pd.to_datetime(post["date_time"], utc=True).sort_values()
    assert holdout["split"] == "production" and holdout["service"] == allowed.service and holdout["rows"] == 10
    assert pd.Timestamp(holdout["start"]) == times.iloc[35] and pd.Timestamp(holdout["end"]) == times.iloc[-1]
    _wait_handled(stack, "drift_detected", quiet.service, 1)
    assert _runs(quiet) == []
    assert _handled(stack, "performance_degraded", allowed.service) == 1

    # A new episode within the cooldown after the run ended starts nothing, even though the run began longer
    # than the cooldown ago: the cooldown counts from its end.
    ended = datetime.fromisoformat(finished["finished_at"])
    assert datetime.now(UTC) < ended + timedelta(seconds=COOLDOWN), "the run ended too long ago to test it"
    _alert(allowed.service, "drift_detected", _episode(allowed.service, allowed.dataset, T0 + timedelta(days=2)))
    _wait_handled(stack, "drift_detected", allowed.service, 3)
    log = (stack.logs / "retraining_api.log").read_text(errors="replace")
    assert f"alert drift_detected for {allowed.service}: triggered run {run['id']} ended" in log
    assert "within the cooldown" in log
    assert len(_runs(allowed)) == 1

    # After it, a new episode (here from an older publisher: no episode, the alert's time as its start) does,
    # and such a run waiting for labels can be cancelled, once.
    wait_for(lambda: datetime.now(UTC) > ended + timedelta(seconds=COOLDOWN), COOLDOWN + 5, "the cooldown ending")
    _alert(allowed.service, "drift_detected")
    def newest_of_two() -> dict:
        runs = _runs(allowed)
        return runs[0] if len(runs) == 2 else {}

    second = wait_for(newest_of_two, 30, "a second triggered run",
                      details=lambda: stack.log_tail("retraining_api"))
    assert second["status"] == "waiting_for_labels" and second["trigger"]["episode_id"] is None
    cancel = httpx.post(f"{allowed.url}/runs/{second['id']}/cancel", headers=allowed.headers)
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled", cancel.text
    again = httpx.post(f"{allowed.url}/runs/{second['id']}/cancel", headers=allowed.headers)
    assert again.status_code == 409 and "cancelled" in again.json()["detail"], again.text


def test_two_listeners_with_the_same_episode_create_one_run(stack: Stack) -> None:
    """The store's check, under its lock and unique index, as two processes would race on it."""
    seeded = seed(stack, production_rows=0)
    policy = RetrainingPolicy(on=[RetrainTrigger.drift_detected])
    request = triggered_request(seeded.dataset, seeded.model, seeded.service, policy, T0).model_dump(mode="json")
    trigger = {"event": "drift_detected", "service": seeded.service, "episode_id": random.randint(10**9, 2**62)}
    waiting = {"have": 0, "need": 300, "since": T0.isoformat()}
    db = Database(stack.database_url, 4)
    try:
        store = RunStore(db)
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: store.create_triggered(seeded.dataset, seeded.model, request, trigger,
                                                                     waiting, COOLDOWN), range(4)))
        created = [run for run, _ in results if run is not None]
        assert len(created) == 1, results
        assert all("already" in reason for run, reason in results if run is None), results
        store.cancel_run(created[0]["id"])  # the executor need not count its labels any longer
    finally:
        db.close()


def test_an_event_without_an_episode_starts_where_the_alert_was_raised() -> None:
    received = datetime(2026, 1, 1, tzinfo=UTC)
    older = read_trigger("drift_detected", {"at": "2025-12-31T23:00:00+00:00"}, received)
    assert older.episode_id is None and older.started_at == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert read_trigger("drift_detected", {}, received).started_at == received
    request = triggered_request("d", "m", "s", RetrainingPolicy(min_labelled_rows=100, holdout_share=0.3),
                                older.started_at)
    assert request == RunCreate(**request.model_dump(mode="json"))
    assert request.wait_for_labels == 100 and request.holdout.last == 30 and request.service == "s"
    assert request.training.source.value == "training+production" and request.training.start is None


def test_episode_resolved_and_unknown_kinds_are_ignored() -> None:
    store, qm = Mock(spec=RunStore), Mock(spec=QueueManagerClient)
    listener = TriggerListener(load_settings(), store, qm)
    for kind in ("episode_resolved", "something_new"):
        assert asyncio.run(listener.handle("svc", kind, {"event": kind, "episode": {"id": 1}})) is None
    assert store.method_calls == [] and qm.method_calls == []


def test_a_manual_run_can_wait_for_labels_too(stack: Stack) -> None:
    seeded = seed(stack, production_rows=0)
    since = {"source": "production", "production_start": T0.isoformat()}
    refused = seeded.start_run(training=since, holdout={"source": "production", "last": 50}, wait_for_labels=50)
    assert refused.status_code == 422 and "leave none to train on" in refused.text, refused.text
    response = seeded.start_run(training=since, holdout={"source": "production", "last": 10, "start": T0.isoformat()},
                                wait_for_labels=30, service=seeded.service)
    assert response.status_code == 202 and response.json()["status"] == "waiting_for_labels", response.text
    run_id = response.json()["id"]
    _labelled_rows(seeded, seeded.service, 0, 12, "manual")
    waiting = wait_for(lambda: seeded.run(run_id)["waiting"]["have"] == 12, 30, "the manual run counting 12 rows",
                       details=lambda: stack.log_tail("retraining_executor"))
    assert waiting
    run = seeded.run(run_id)
    assert run["status"] == "waiting_for_labels" and run["waiting"]["need"] == 30
    assert run["waiting"]["since"].startswith("2016-06-01T00:00:00")
    assert httpx.post(f"{seeded.url}/runs/{run_id}/cancel", headers=seeded.headers).json()["status"] == "cancelled"
    assert httpx.post(f"{seeded.url}/runs/{run_id}/cancel").status_code == 401
    listed = httpx.get(f"{seeded.url}/runs", params={"dataset": seeded.dataset, "status": "cancelled"},
                       headers=seeded.read_headers).json()
    assert [r["id"] for r in listed] == [run_id]
