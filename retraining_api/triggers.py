"""Retraining started by monitoring alert episodes, where a service's retraining policy allows it.

Episodes open as `service.<name>.drift_detected|performance_degraded` events on the events
exchange, through a durable queue of retraining_api's own: events published while it is
down wait there. An episode starts at most one run (also when redelivered, or heard by two
listeners); a model has at most one triggered run active, and none starts within the
cooldown after the last one ended. The run waits for labelled post-drift rows
(`waiting_for_labels`) before it is queued; the executor counts them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from pydantic import BaseModel, ValidationError

from conveyor.clients import APIError, APIUnavailable, QueueManagerClient
from conveyor.events import EventSubscription
from conveyor.schemas.retraining import Holdout, HoldoutSource, RunCreate, TrainingData, Waiting
from conveyor.schemas.services import RetrainingPolicy, RetrainTrigger
from retraining_api.settings import Settings
from retraining_api.store import RunStore

log = logging.getLogger(__name__)


class EpisodeRef(BaseModel):
    """What a run needs of the event's episode (the rest of it is kept as sent, not bound)."""

    id: int
    started_at: datetime


@dataclass(frozen=True)
class Trigger:
    """An alert event read: which episode, and where its post-drift rows begin."""

    kind: str
    episode_id: int | None  # None: a publisher older than episodes
    started_at: datetime
    episode: dict[str, Any] | None


def read_trigger(kind: str, alert: dict[str, Any], received_at: datetime) -> Trigger:
    """The episode of an alert; without one (older publishers) the alert's time stands for its start."""
    episode = alert.get("episode")
    if isinstance(episode, dict):
        ref = EpisodeRef.model_validate(episode)  # a malformed episode: ValidationError, the event is dropped
        return Trigger(kind, ref.id, ref.started_at, episode)
    at = alert.get("at")
    try:
        started = datetime.fromisoformat(at) if isinstance(at, str) else received_at
    except ValueError:
        started = received_at
    return Trigger(kind, None, started if started.tzinfo else started.replace(tzinfo=UTC), None)


def triggered_request(dataset: str, algorithm: str, service: str, policy: RetrainingPolicy,
                      started_at: datetime) -> RunCreate:
    """The run an episode starts: post-drift production rows of the service (plus the training split
    unless the policy's source excludes it), scored on the latest of them, which it does not train on."""
    training = TrainingData(source=policy.training.source, start=policy.training.start, end=policy.training.end,
                            production_start=started_at)
    return RunCreate(dataset=dataset, algorithm=algorithm, service=service, training=training,
                     holdout=Holdout(source=HoldoutSource.production, last=policy.holdout_rows(), start=started_at),
                     include=policy.include, auto_promote=policy.auto_promote, margin=policy.margin,
                     wait_for_labels=policy.min_labelled_rows)


class TriggerListener:
    def __init__(self, settings: Settings, store: RunStore, queue_manager: QueueManagerClient) -> None:
        self.settings = settings
        self.store = store
        self.queue_manager = queue_manager  # the process's client, closed by its owner
        # Only the kinds that can start a run are bound (episode_resolved needs no action).
        # Broker down: events wait in the durable queue while the subscription keeps trying.
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
        except (APIUnavailable, OSError) as exc:  # a passing fault: the event waits and comes back
            log.warning("trigger %s for %s postponed: %s", kind, service, exc)
            await asyncio.sleep(5)
            await message.nack(requeue=True)
            return
        except Exception as exc:  # bad event: say so, do not loop on it
            log.warning("alert %s for %s: dropped: %s", kind, service, exc)
        await message.ack()

    async def handle(self, service_name: str, kind: str, alert: dict[str, Any]) -> dict[str, Any] | None:
        """The run the alert starts, or None with the reason logged."""
        if kind not in {t.value for t in RetrainTrigger}:
            log.info("alert %s for %s: not a kind that retrains, ignored", kind, service_name)
            return None
        received_at = datetime.now(UTC)
        try:
            trigger = read_trigger(kind, alert, received_at)
        except ValidationError as exc:
            log.warning("alert %s for %s: dropped, its episode is malformed: %s", kind, service_name, exc)
            return None
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
        request = triggered_request(service.dataset, name, service_name, policy, trigger.started_at)
        record = {"event": kind, "service": service_name, "alert": alert, "received_at": received_at.isoformat(),
                  "episode_id": trigger.episode_id, "episode": trigger.episode}
        waiting = Waiting(have=0, need=policy.min_labelled_rows, since=trigger.started_at)
        run, reason = await asyncio.to_thread(
            self.store.create_triggered, service.dataset, name, request.model_dump(mode="json"), record,
            waiting.model_dump(mode="json"), self.settings.trigger_cooldown_seconds)
        if run is None:
            log.info("alert %s for %s: %s", kind, service_name, reason)
            return None
        log.warning("alert %s for %s started retraining run %s of %s (episode %s), waiting for %d labelled rows "
                    "since %s", kind, service_name, run["id"], name, trigger.episode_id, waiting.need,
                    trigger.started_at.isoformat())
        return run

    async def close(self) -> None:
        await self.subscription.close()
