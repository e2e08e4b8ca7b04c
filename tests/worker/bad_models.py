"""Models that do not load, put where a worker finds them, and what to watch while it meets them."""

from __future__ import annotations

import asyncio
import json
import pickle
import sys
import uuid

import aio_pika
import mongoengine

from conveyor.schemas.algorithms import Stage
from conveyor_tools.stack import Stack
from queue_manager.algorithms_store import create_algorithm

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
NOT_A_MODEL = b"this is a text file, not a model\n"


class _ExitsWhenLoaded:
    """Unpickling this calls sys.exit(3): the code a pickle runs on load, here only ending the process."""

    def __reduce__(self) -> tuple[object, tuple[int]]:
        return sys.exit, (3,)


def hostile_pickle() -> bytes:
    return pickle.dumps(_ExitsWhenLoaded())


def store_model_directly(stack: Stack, name: str, dataset: str, content: bytes) -> int:
    """A new version of `name` holding `content`, written into queue_manager's store (GridFS) by its own code.

    The upload route checks a model in a separate process and refuses what does not load (issue 14), so a file
    a worker cannot load reaches it only from the store: a version uploaded before that check existed, or
    bytes changed in the store. This is the second way: the worker then finds it as it would in production."""
    mongoengine.disconnect()
    mongoengine.connect(host=stack.mongodb_uri, tz_aware=True, uuidRepresentation="standard")
    try:
        doc = create_algorithm(name=name, dataset=dataset, model=content, filename="model.joblib", config=None,
                               config_filename=None, framework="scikit-learn", description="written to the store",
                               metrics={}, stage=Stage.staging, by="tests.worker")
        return int(doc.version)
    finally:
        mongoengine.disconnect()


async def _queued(queue: str) -> int:
    connection = await aio_pika.connect_robust(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        count = declared.declaration_result.message_count
        return int(count or 0)


def queued(queue: str) -> int:
    """Messages ready in the queue, as the broker counts them (none is taken by a consumer)."""
    return asyncio.run(_queued(queue))


class ServiceEvents:
    """The events published about one service (`service.<name>.#`), kept in a queue of the test's own."""

    def __init__(self, service: str, exchange: str = "conveyor.events") -> None:
        self.service = service
        self.exchange = exchange
        self.queue = f"tests.worker.events.{uuid.uuid4().hex[:8]}"
        asyncio.run(self._declare())

    async def _declare(self) -> None:
        connection = await aio_pika.connect_robust(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            # Gone a minute after the test stops reading it, even if the test dies first.
            queue = await channel.declare_queue(self.queue, arguments={"x-expires": 60_000})
            await queue.bind(exchange, routing_key=f"service.{self.service}.#")

    async def _read(self) -> list[tuple[str, dict]]:
        connection = await aio_pika.connect_robust(AMQP_URL)
        out: list[tuple[str, dict]] = []
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.queue, passive=True)
            while (message := await queue.get(fail=False, no_ack=True)) is not None:
                out.append((message.routing_key or "", json.loads(message.body)))
        return out

    def read(self) -> list[tuple[str, dict]]:
        """What came since the last read: (routing key, body), oldest first."""
        return asyncio.run(self._read())
