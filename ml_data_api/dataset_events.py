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
from contextlib import suppress

import aio_pika
import psycopg2
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from conveyor.amqp import declare_events_exchange
from conveyor.api.errors import Unavailable
from conveyor.clients import APIError, APIUnavailable, QueueManagerClient
from conveyor.retry import until_done
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
        self.subscribed = False  # the queue is bound: from now on no deletion is missed
        self.handled = 0  # events handled to the end (tables dropped or kept on purpose)
        self.unowned: list[str] | None = None  # datasets with tables here unknown to queue_manager, once compared
        self._connection: AbstractRobustConnection | None = None
        self._task: asyncio.Task[bool] | None = None

    def start(self) -> None:
        # Broker down: events wait in the durable queue while this keeps trying.
        self._task = asyncio.create_task(until_done("subscribing to dataset events", self._subscribe))

    async def _subscribe(self) -> None:
        self._connection = await aio_pika.connect_robust(self.settings.amqp_url, timeout=5)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=1)
        exchange = await declare_events_exchange(channel, self.settings.events_exchange)
        arguments: dict[str, object] = {"x-queue-type": "quorum"}
        if self.settings.events_queue_expires_ms:
            arguments["x-expires"] = self.settings.events_queue_expires_ms
        queue = await channel.declare_queue(self.settings.events_queue, durable=True, arguments=arguments)
        await queue.bind(exchange, routing_key=DELETED_KEY)
        await queue.consume(self._on_message)
        self.subscribed = True
        log.info("dataset deletions from %s through queue %s", self.settings.events_exchange,
                 self.settings.events_queue)
        await self._report_unowned()

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
            return await self.queue_manager.get_dataset(name)
        except APIError as exc:
            if exc.status_code == 404:
                return None
            raise Unavailable(f"queue_manager refused to look dataset {name!r} up: {exc}") from exc

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._connection:
            with suppress(Exception):
                await self._connection.close()
