"""Retraining started by monitoring alerts, where a service's retraining policy allows it.

Alerts arrive as `service.<name>.drift_detected|performance_degraded` events on the
events exchange, through a durable queue of retraining_api's own: alerts published
while it is down wait there. One model gets at most one triggered run at a time, and
none within the cooldown after the last one, so a drifting service does not retrain
at every check.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from conveyor.clients import APIError, APIUnavailable, QueueManagerClient
from conveyor.events import EventSubscription
from conveyor.schemas.retraining import RunCreate
from conveyor.schemas.services import RetrainTrigger
from retraining_api.settings import Settings
from retraining_api.store import RunStore

log = logging.getLogger(__name__)


class TriggerListener:
    def __init__(self, settings: Settings, store: RunStore, queue_manager: QueueManagerClient) -> None:
        self.settings = settings
        self.store = store
        self.queue_manager = queue_manager  # the process's client, closed by its owner
        # Broker down: alerts wait in the durable queue while the subscription keeps trying.
        self.subscription = EventSubscription(
            "alerts", settings.amqp_url, settings.events_exchange, settings.trigger_queue,
            [f"service.*.{kind.value}" for kind in RetrainTrigger], self._on_message,
            expires_ms=settings.trigger_queue_expires_ms)

    def start(self) -> None:
        self.subscription.start()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        parts = (message.routing_key or "").split(".")
        try:
            body = json.loads(message.body)
        except ValueError:
            body = {}
        if len(parts) < 3 or not isinstance(body, dict):
            await message.reject(requeue=False)
            return
        service, kind = ".".join(parts[1:-1]), parts[-1]
        try:
            await self.handle(service, kind, body)
        except (APIUnavailable, OSError) as exc:  # a passing fault: the alert waits and comes back
            log.warning("trigger %s for %s postponed: %s", kind, service, exc)
            await asyncio.sleep(5)
            await message.nack(requeue=True)
            return
        except Exception as exc:  # bad event: say so, do not loop on it
            log.warning("trigger %s for %s dropped: %s", kind, service, exc)
        await message.ack()

    async def handle(self, service_name: str, kind: str, alert: dict[str, Any]) -> dict[str, Any] | None:
        """The run the alert starts, or None with the reason logged."""
        try:
            service = await self.queue_manager.get_service(service_name)
        except APIError:
            log.info("alert %s for unknown service %s ignored", kind, service_name)
            return None
        policy = service.retraining
        if kind not in {t.value for t in policy.on}:
            log.info("alert %s for %s: its retraining policy does not retrain on it", kind, service_name)
            return None
        if service.algorithm is None:
            log.info("alert %s for %s: no model assigned, nothing to retrain", kind, service_name)
            return None
        name = service.algorithm.name
        active = await asyncio.to_thread(self.store.active_run, service.dataset, name)
        if active:
            log.info("alert %s for %s: run %s already retrains %s", kind, service_name, active["id"], name)
            return None
        last = await asyncio.to_thread(self.store.last_triggered, service.dataset, name)
        cooldown = timedelta(seconds=self.settings.trigger_cooldown_seconds)
        if last and last["created_at"] > datetime.now(UTC) - cooldown:
            log.info("alert %s for %s: run %s was triggered at %s, within the cooldown", kind, service_name,
                     last["id"], last["created_at"])
            return None
        request = RunCreate(dataset=service.dataset, algorithm=name, training=policy.training,
                            holdout=policy.holdout, include=policy.include, auto_promote=policy.auto_promote,
                            margin=policy.margin)
        trigger = {"event": kind, "service": service_name, "alert": alert,
                   "received_at": datetime.now(UTC).isoformat()}
        run = await asyncio.to_thread(self.store.create_run, service.dataset, name,
                                      request.model_dump(mode="json"), trigger)
        log.warning("alert %s for %s started retraining run %s of %s", kind, service_name, run["id"], name)
        return run

    async def close(self) -> None:
        await self.subscription.close()
