"""Monitoring alerts start retraining only where a service's policy says so."""

from __future__ import annotations

import asyncio
import json

import aio_pika
import httpx

from conveyor_tools.stack import Stack
from tests.retraining_api.conftest import Seeded, seed
from tests.support import wait_for


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


def test_an_alert_starts_a_run_when_the_service_allows_it(stack: Stack) -> None:
    quiet, allowed = seed(stack, production_rows=0), seed(stack, production_rows=0)
    assert seeded_policy(quiet)["on"] == [], "retraining on alerts is off by default"
    _policy(allowed, {"on": ["drift_detected"], "include": ["lr"], "training": {"source": "training"}})

    asyncio.run(_alert(quiet.service, "drift_detected"))
    asyncio.run(_alert(allowed.service, "performance_degraded"))  # not in its policy
    asyncio.run(_alert(allowed.service, "drift_detected"))
    [run] = wait_for(lambda: _runs(allowed), 30, f"a run started by the alert for {allowed.service}",
                     details=lambda: stack.log_tail("retraining_api"))
    assert run["trigger"]["event"] == "drift_detected" and run["trigger"]["service"] == allowed.service
    assert run["trigger"]["alert"]["message"].startswith("share of drifted columns")
    assert run["request"]["include"] == ["lr"]
    finished = allowed.wait_run(run["id"])
    assert finished["status"] == "finished" and finished["new_version"] == 2, finished

    # Another alert within the cooldown starts nothing; the service without a policy never retrained.
    # "Nothing" is asserted once the listener has said it handled each alert, not after a pause.
    asyncio.run(_alert(allowed.service, "drift_detected"))
    wait_for(lambda: _handled(stack, "drift_detected", allowed.service) >= 2, 30,
             f"retraining_api handling the second drift_detected alert for {allowed.service}",
             details=lambda: stack.log_tail("retraining_api"))
    assert _handled(stack, "drift_detected", quiet.service) == 1
    assert _handled(stack, "performance_degraded", allowed.service) == 1
    assert len(_runs(allowed)) == 1
    assert _runs(quiet) == []


def _handled(stack: Stack, kind: str, service: str) -> int:
    """How many `kind` alerts for `service` the trigger listener has logged a decision on."""
    log = (stack.logs / "retraining_api.log").read_text(errors="replace")
    return log.count(f"alert {kind} for {service}:") + log.count(f"alert {kind} for {service} started")


def seeded_policy(seeded: Seeded) -> dict:
    return seeded.qm(f"services/{seeded.service}")["retraining"]
