"""A dataset deleted in queue_manager loses its tables here.

queue_manager publishes `dataset.<name>.deleted` on the events exchange before it deletes a
dataset (and refuses the deletion while the broker is unreachable). The events reach this
service through a durable queue of its own, so deletions made while it is down are applied
when it comes back.

The exchange may be shared by other deployments (throwaway stacks on one broker), so an
event is a hint, checked with this service's own queue_manager: the tables go when the
dataset is gone there, or is registered again with another shape (their schema is stale).
While queue_manager still has the very dataset announced (same creation time) the deletion
is under way there: the event comes back a moment later. A dataset deleted and registered
again with the same shape before the event is handled keeps its rows;
DELETE /ml_data_api/datasets/{name} drops them by hand.

Events are missed only while this service's queue does not exist (never started against this
broker, or the queue expired): once subscribed, it logs the datasets it has tables for that
queue_manager does not know, rather than dropping them (they may have been registered here
with PUT on purpose).
"""

from __future__ import annotations

import asyncio
import logging

import psycopg2
from aio_pika.abc import AbstractIncomingMessage
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from conveyor.api.errors import NotFound, Unavailable
from conveyor.clients import APIUnavailable, QueueManagerClient
from conveyor.events import EventSubscription
from conveyor.lookups import registered_dataset
from conveyor.schemas.datasets import Dataset, DatasetDeleted
from ml_data_api.catalog import Catalog, same_shape
from ml_data_api.settings import Settings

log = logging.getLogger(__name__)
DELETED_KEY = "dataset.*.deleted"
# A passing fault (queue_manager or PostgreSQL down): the event goes back to the queue after this.
RETRY_AFTER_SECONDS = 5.0
# queue_manager deletes right after announcing; past this many looks its deletion has failed.
DELETION_LOOKS = 30
DELETION_LOOK_SECONDS = 1.0


class DeletionUnderWay(Exception):
    """queue_manager announced the deletion and still has the dataset: it is deleting it now."""


def _deliveries(message: AbstractIncomingMessage) -> int:
    """How often the message was delivered before (quorum queues count it)."""
    count = (message.headers or {}).get("x-delivery-count")
    return count if isinstance(count, int) else 0


class DatasetEvents:
    def __init__(self, settings: Settings, catalog: Catalog, queue_manager: QueueManagerClient) -> None:
        self.settings = settings
        self.catalog = catalog
        self.queue_manager = queue_manager
        self.handled = 0  # events handled to the end (tables dropped or kept on purpose)
        self.unowned: list[str] | None = None  # datasets with tables here unknown to queue_manager, once compared
        # Broker down: events wait in the durable queue while the subscription keeps trying.
        self.subscription = EventSubscription(
            "dataset deletions", settings.amqp_url, settings.events_exchange, settings.events_queue, [DELETED_KEY],
            self._on_message, expires_ms=settings.events_queue_expires_ms, on_subscribed=self._report_unowned)

    def start(self) -> None:
        self.subscription.start()

    @property
    def subscribed(self) -> bool:
        """The queue is bound: from now on no deletion is missed."""
        return self.subscription.subscribed

    async def _report_unowned(self) -> None:
        try:
            owned = {d.name for d in await self.queue_manager.list_datasets()}
            here = [s.name for s in await run_in_threadpool(self.catalog.list)]
        except Exception as exc:  # only a report: the deletions are followed all the same
            log.warning("could not compare the datasets here with queue_manager's: %s", exc)
            return
        self.unowned = [name for name in here if name not in owned]
        if self.unowned:
            log.warning("tables of datasets queue_manager does not know: %s; if they were deleted there, "
                        "drop them with DELETE /ml_data_api/datasets/{name}", ", ".join(self.unowned))

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            event = DatasetDeleted.model_validate_json(message.body)
        except ValidationError as exc:  # not ours to understand: say so, do not loop on it
            log.warning("dataset event %s dropped: %s", message.routing_key, exc)
            await message.reject(requeue=False)
            return
        try:
            await self.apply(event)
        except DeletionUnderWay:
            if _deliveries(message) < DELETION_LOOKS:
                await asyncio.sleep(DELETION_LOOK_SECONDS)
                await message.nack(requeue=True)
                return
            log.warning("dataset %s: announced as deleted, still in queue_manager; its tables are kept",
                        event.dataset)
        except (APIUnavailable, Unavailable, OSError, psycopg2.OperationalError) as exc:
            log.warning("deletion of dataset %s postponed: %s", event.dataset, exc)
            await asyncio.sleep(RETRY_AFTER_SECONDS)
            await message.nack(requeue=True)
            return
        except Exception:  # not a passing fault: retrying would loop on it
            log.exception("dataset event %s dropped", message.routing_key)
        await message.ack()
        self.handled += 1

    async def apply(self, event: DatasetDeleted) -> bool:
        """Drop the dataset's tables unless queue_manager still has it as they were built; answer whether."""
        name = event.dataset
        current = await self._registered(name)
        if current is not None and current.created_at == event.created_at:
            raise DeletionUnderWay(name)
        stored = await run_in_threadpool(self.catalog.stored, name)
        if current is not None and (stored is None or same_shape(stored, current.to_schema())):
            log.info("dataset %s is registered in queue_manager (deleted elsewhere, or again with the same "
                     "shape): its tables are kept", name)
            return False
        dropped = await run_in_threadpool(self.catalog.forget, name)
        if dropped:
            log.warning("dataset %s deleted in queue_manager: its tables are dropped", name)
        return dropped

    async def _registered(self, name: str) -> Dataset | None:
        try:
            return await registered_dataset(self.queue_manager, name)
        except NotFound:
            return None

    async def close(self) -> None:
        await self.subscription.close()
