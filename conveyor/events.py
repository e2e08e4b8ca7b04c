"""Publishes platform events on the events exchange; a broker outage never fails the caller.

Whoever listens also has a slower way to learn the same thing (workers poll their
service's revision, alerts are stored), so an event lost while the broker is down only
delays a reaction.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustConnection

from conveyor.amqp import declare_events_exchange, publish_event
from conveyor.retry import until_done

log = logging.getLogger(__name__)


class EventPublisher:
    def __init__(self, amqp_url: str, exchange: str) -> None:
        self.amqp_url = amqp_url
        self.exchange_name = exchange
        self._connection: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._connector: asyncio.Task[bool] | None = None

    async def start(self) -> None:
        try:
            await self._connect()
        except Exception as exc:  # broker down at start: keep trying in the background, serve meanwhile
            log.warning("broker unreachable: %s", exc)
            self._connector = asyncio.create_task(until_done("connecting to the events broker", self._connect,
                                                             initial=1.0))

    async def _connect(self) -> None:
        self._connection = await aio_pika.connect_robust(self.amqp_url, timeout=5)
        channel = await self._connection.channel()
        self._exchange = await declare_events_exchange(channel, self.exchange_name)
        log.info("events go to exchange %s", self.exchange_name)

    @property
    def connected(self) -> bool:
        return self._exchange is not None and self._connection is not None and not self._connection.is_closed

    async def publish(self, routing_key: str, body: dict) -> bool:
        if not self.connected:
            log.warning("event %s not published: broker not connected", routing_key)
            return False
        try:
            await asyncio.wait_for(publish_event(self._exchange, routing_key, body), timeout=5)  # type: ignore[arg-type]
            return True
        except Exception as exc:
            log.warning("event %s not published: %s", routing_key, exc)
            return False

    async def close(self) -> None:
        if self._connector:
            self._connector.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._connector
        if self._connection:
            with suppress(Exception):
                await self._connection.close()
