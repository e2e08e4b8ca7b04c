"""Learn of a new model assignment: an event on the broker, or a periodic revision check."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from conveyor.amqp import declare_events_exchange, through_broker_faults
from conveyor.clients import APIError, APIUnavailable, QueueManagerClient
from conveyor.schemas.services import Service

log = logging.getLogger(__name__)


class AssignmentWatcher:
    """Calls `on_change(service)` when the service's assignment revision moves on."""

    def __init__(
        self, qm: QueueManagerClient, service: Service, on_change: Callable[[Service], Awaitable[None]],
        interval: float,
    ) -> None:
        self.qm = qm
        self.revision = service.assignment_revision
        self.name = service.name
        self.on_change = on_change
        self.interval = interval
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, channel: AbstractChannel, exchange_name: str, stop: asyncio.Event | None = None) -> None:
        """Listen for the service's assignment events and poll its revision. Each broker step is tried again on
        its own through broker faults (a robust queue, binding or consumer is remembered only once it is made), so
        a broker that stops meanwhile delays the start instead of ending the worker."""
        key = f"service.{self.name}.assignment"
        exchange = await through_broker_faults(
            f"declaring exchange {exchange_name}", lambda: declare_events_exchange(channel, exchange_name), stop=stop)
        queue = await through_broker_faults(
            "declaring the assignment events queue",
            lambda: channel.declare_queue(exclusive=True, auto_delete=True), stop=stop)
        await through_broker_faults(f"binding the assignment events queue to {key}",
                                    lambda: queue.bind(exchange, routing_key=key), stop=stop)
        await through_broker_faults("consuming assignment events",
                                    lambda: queue.consume(self._on_event, no_ack=True), stop=stop)
        self._tasks.append(asyncio.create_task(self._poll()))

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        try:
            revision = int(json.loads(message.body).get("assignment_revision", 0))
        except (ValueError, TypeError, AttributeError):
            return
        if revision > self.revision:
            # queue_manager down meanwhile: the poll learns the same revision a little later.
            with suppress(APIError, APIUnavailable):
                await self.check()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            with suppress(APIError, APIUnavailable):
                await self.check()

    async def check(self) -> None:
        service = await self.qm.get_service(self.name)
        if service.assignment_revision > self.revision:
            self.revision = service.assignment_revision
            log.info("service %s assignment revision %d: %s", self.name, service.assignment_revision,
                     service.algorithm)
            await self.on_change(service)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
