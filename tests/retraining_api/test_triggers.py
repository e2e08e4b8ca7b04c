"""Monitoring alerts start retraining only where a service's policy says so."""

from __future__ import annotations

import asyncio
import json
import time

import aio_pika
import httpx

from tests.retraining_api.conftest import Seeded, seed


async def _alert(service: str, kind: str) -> None:
    connection = await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/")
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange("conveyor.events", aio_pika.ExchangeType.TOPIC, durable=True)
        body = {"event": kind, "service": service, "kind": kind, "value": 0.6, "threshold": 0.3,
                "message": "share of drifted columns 0.6 >= 0.3"}
        await exchange.publish(aio_pika.Message(json.dumps(body).encode()), routing_key=f"service.{service}.{kind}")


def _runs(seeded: Seeded) -> list[dict]:
    return httpx.get(f"{seeded.url}/runs", params={"dataset": seeded.dataset}).json()


def _policy(seeded: Seeded, policy: dict) -> None:
    httpx.patch(f"{seeded.stack.qm_url}/queue_manager/services/{seeded.service}", headers=seeded.headers,
                json={"retraining": policy}).raise_for_status()


def test_an_alert_starts_a_run_when_the_service_allows_it(stack) -> None:  # type: ignore[no-untyped-def]
    quiet, allowed = seed(stack, production_rows=0), seed(stack, production_rows=0)
    assert seeded_policy(quiet)["on"] == [], "retraining on alerts is off by default"
    _policy(allowed, {"on": ["drift_detected"], "include": ["lr"], "training": {"source": "training"}})

    asyncio.run(_alert(quiet.service, "drift_detected"))
    asyncio.run(_alert(allowed.service, "performance_degraded"))  # not in its policy
    asyncio.run(_alert(allowed.service, "drift_detected"))
    deadline = time.monotonic() + 30
    while not _runs(allowed):
        assert time.monotonic() < deadline, stack.log_tail("retraining_api")
        time.sleep(0.3)
    [run] = _runs(allowed)
    assert run["trigger"]["event"] == "drift_detected" and run["trigger"]["service"] == allowed.service
    assert run["trigger"]["alert"]["message"].startswith("share of drifted columns")
    assert run["request"]["include"] == ["lr"]
    finished = allowed.wait_run(run["id"])
    assert finished["status"] == "finished" and finished["new_version"] == 2, finished

    # Another alert within the cooldown starts nothing; the service without a policy never retrained.
    asyncio.run(_alert(allowed.service, "drift_detected"))
    time.sleep(2)
    assert len(_runs(allowed)) == 1
    assert _runs(quiet) == []


def seeded_policy(seeded: Seeded) -> dict:
    return seeded.qm(f"services/{seeded.service}")["retraining"]
