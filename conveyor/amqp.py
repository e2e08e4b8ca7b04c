"""RabbitMQ topology and events, declared the same way by every component.

A service's queue is a durable quorum queue with a dead-letter exchange and queue of its
own: `<queue>.dlx` (direct) routes to `<queue>.dead`. Every declaration of a queue must
carry the same arguments, so they are built here and nowhere else.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, TypeVar

import aio_pika
import aiormq.exceptions
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from conveyor.retry import Backoff, retry
from conveyor.settings import amqp_url, events_exchange

T = TypeVar("T")

# A message redelivered this many times (a worker crashing on it) is dead-lettered.
DELIVERY_LIMIT = 20
# What a broker restart or a stop_app raises from a publish or an ack until the robust connection has restored
# its channels: passing faults. ChannelInvalidStateError (a channel the broker closed) is a RuntimeError, not an
# AMQPError, so it is named on its own (found by `conveyor bench faults`).
BROKER_FAULTS: tuple[type[BaseException], ...] = (
    aio_pika.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError, ConnectionError, TimeoutError)
# Of those, the ones that say the channel itself is gone: the broker takes back what it had delivered on it
# and unacknowledged, and delivers it again.
CHANNEL_LOST: tuple[type[BaseException], ...] = (
    aiormq.exceptions.ChannelInvalidStateError, aiormq.exceptions.ChannelClosed, aiormq.exceptions.ConnectionClosed)
# The broker is up and says no to a declaration (arguments other than the queue's, no permission): it will not pass
# by itself, so it is tried again only slowly and logged as an error (conveyor.retry's refusals).
BROKER_REFUSALS: tuple[type[BaseException], ...] = (
    aiormq.exceptions.ChannelPreconditionFailed, aiormq.exceptions.ChannelAccessRefused)
# A start-up step tried again through a broker outage: soon, since a stop_app is over in seconds.
BROKER_BACKOFF = Backoff(0.5, 5.0)


def dead_letter_exchange_name(queue: str) -> str:
    return f"{queue}.dlx"


def dead_letter_queue_name(queue: str) -> str:
    return f"{queue}.dead"


def service_queue_arguments(queue: str) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": dead_letter_exchange_name(queue),
        "x-dead-letter-routing-key": queue,
        "x-delivery-limit": DELIVERY_LIMIT,
    }


async def connect(url: str | None = None) -> AbstractRobustConnection:
    return await aio_pika.connect_robust(url or amqp_url())


async def through_broker_faults(what: str, step: Callable[[], Awaitable[T]], *, stop: asyncio.Event | None = None,
                                backoff: Backoff = BROKER_BACKOFF) -> T:
    """A step on the broker (connect, open a channel, declare, bind, consume) tried again through broker faults.

    aio_pika's robust connection restores what was declared and consumed before an outage, but a call made during
    one fails: with no transport, or on the old channel between the reconnect and that channel's restore
    (ChannelInvalidStateError, seen by `conveyor bench faults` as a worker starting while the broker stopped). Each
    robust declaration, binding and consumer is remembered only once it succeeded, so trying the step again never
    doubles one. A set `stop` ends the waiting with conveyor.retry.Stopping."""
    return await retry(what, step, backoff=backoff, stop=stop, passing=BROKER_FAULTS, refused=BROKER_REFUSALS)


async def connect_through_faults(url: str | None = None, *, stop: asyncio.Event | None = None
                                 ) -> AbstractRobustConnection:
    """A robust connection, waiting for a broker that is down at start (connect_robust fails on its first try)."""
    return await through_broker_faults("connecting to the broker", lambda: connect(url), stop=stop)


async def open_channel(connection: AbstractRobustConnection, *, publisher_confirms: bool = True,
                       on_return_raises: bool = False, stop: asyncio.Event | None = None) -> AbstractRobustChannel:
    """A robust channel, opened through broker faults.

    `on_return_raises`: a message the broker could not route (no queue had it: it was dropped) raises PublishError,
    a broker fault, instead of passing for confirmed (aio_pika's default answers the returned message)."""

    async def attempt() -> AbstractRobustChannel:
        channel = connection.channel(publisher_confirms=publisher_confirms, on_return_raises=on_return_raises)
        try:
            await channel
        except BaseException:
            # The connection holds every channel it made and reopens it on its next reconnect: a closed one it leaves.
            with suppress(Exception):
                await channel.close()
            raise
        return channel

    return await through_broker_faults("opening a channel", attempt, stop=stop)


async def declare_service_queue(
    channel: AbstractChannel, queue: str
) -> tuple[AbstractQueue, AbstractExchange, AbstractQueue]:
    """The service queue, its dead-letter exchange and its dead-letter queue."""
    dlx = await channel.declare_exchange(
        dead_letter_exchange_name(queue), aio_pika.ExchangeType.DIRECT, durable=True
    )
    dead = await channel.declare_queue(
        dead_letter_queue_name(queue), durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead.bind(dlx, routing_key=queue)
    main = await channel.declare_queue(
        queue, durable=True, arguments=service_queue_arguments(queue)
    )
    return main, dlx, dead


async def declare_events_exchange(
    channel: AbstractChannel, name: str | None = None
) -> AbstractExchange:
    return await channel.declare_exchange(
        name or events_exchange(), aio_pika.ExchangeType.TOPIC, durable=True
    )


async def publish_event(
    exchange: AbstractExchange, routing_key: str, body: dict[str, Any]
) -> None:
    """Events are small JSON documents; routing keys look like `service.<name>.assignment`."""
    message = aio_pika.Message(
        json.dumps(body, default=str).encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        timestamp=datetime.now(UTC),
        type=str(body.get("event", "")),
    )
    await exchange.publish(message, routing_key=routing_key)
