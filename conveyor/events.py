"""Platform events on the events exchange: publishing never fails the caller; listening has a queue of its own.

Whoever listens also has a slower way to learn the same thing (workers poll their
service's revision, alerts are stored), so an event lost while the broker is down only
delays a reaction. A listener's durable queue keeps what is published while it is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection

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
        connection = await aio_pika.connect_robust(self.amqp_url, timeout=5)
        async with _closed_on_failure(connection):
            channel = await connection.channel()
            self._exchange = await declare_events_exchange(channel, self.exchange_name)
        self._connection = connection
        log.info("events go to exchange %s", self.exchange_name)

    @property
    def connected(self) -> bool:
        return self._exchange is not None and self._connection is not None and not self._connection.is_closed

    async def publish(self, routing_key: str, body: dict) -> bool:
        exchange = self._exchange
        if exchange is None or not self.connected:
            log.warning("event %s not published: broker not connected", routing_key)
            return False
        try:
            await asyncio.wait_for(publish_event(exchange, routing_key, body), timeout=5)
            return True
        except Exception as exc:
            log.warning("event %s not published: %s", routing_key, exc)
            return False

    async def close(self) -> None:
        await _stop(self._connector, self._connection)


class EventSubscription:
    """Events of some routing keys, through a durable quorum queue of the listener's own.

    Subscribing keeps trying in the background while the broker is down; meanwhile the
    events wait in the queue. Messages come to `on_message` one at a time; `on_subscribed`,
    if given, runs once they are being consumed.
    """

    def __init__(self, what: str, amqp_url: str, exchange: str, queue: str, routing_keys: Sequence[str],
                 on_message: Callable[[AbstractIncomingMessage], Awaitable[None]], expires_ms: int = 0,
                 on_subscribed: Callable[[], Awaitable[None]] | None = None) -> None:
        self.what = what
        self.amqp_url = amqp_url
        self.exchange_name = exchange
        self.queue_name = queue
        self.routing_keys = list(routing_keys)
        self.on_message = on_message
        self.expires_ms = expires_ms  # 0: the queue stays while no one listens
        self.on_subscribed = on_subscribed
        self._connection: AbstractRobustConnection | None = None
        self._task: asyncio.Task[bool] | None = None
        self.subscribed = False  # True once messages are being consumed

    def start(self) -> None:
        self._task = asyncio.create_task(until_done(f"subscribing to {self.what}", self._subscribe))

    async def _subscribe(self) -> None:
        connection = await aio_pika.connect_robust(self.amqp_url, timeout=5)
        self._connection = connection  # close() closes it, even while subscribing
        async with _closed_on_failure(connection):
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=1)
            exchange = await declare_events_exchange(channel, self.exchange_name)
            arguments: dict[str, object] = {"x-queue-type": "quorum"}
            if self.expires_ms:
                arguments["x-expires"] = self.expires_ms
            queue = await channel.declare_queue(self.queue_name, durable=True, arguments=arguments)
            for key in self.routing_keys:
                await queue.bind(exchange, routing_key=key)
            await queue.consume(self.on_message)
            self.subscribed = True
            log.info("%s: %s from %s through queue %s", self.what, self.routing_keys, self.exchange_name,
                     self.queue_name)
            if self.on_subscribed is not None:
                try:
                    await self.on_subscribed()
                except BaseException:
                    self.subscribed = False  # its connection is closed below: nothing is consumed until the next try
                    raise

    async def close(self) -> None:
        await _stop(self._task, self._connection)


@asynccontextmanager
async def _closed_on_failure(connection: AbstractRobustConnection) -> AsyncIterator[None]:
    """A start that fails part way (the broker stopping between the connect and the consume) is tried again from a
    new connection: the one it leaves is closed, or its robust channel would restore a second consumer of the
    same queue on the next reconnect, beside the one the next try makes."""
    try:
        yield
    except BaseException:
        with suppress(Exception):
            await connection.close()
        raise


async def _stop(task: asyncio.Task[bool] | None, connection: AbstractRobustConnection | None) -> None:
    """Stop connecting (if still trying), then close the connection; a broker gone by then is no error."""
    if task:
        task.cancel()
        with suppress(asyncio.CancelledError, Exception):
            await task
    if connection:
        with suppress(Exception):
            await connection.close()
