"""The data source's tests publish to a queue of their own, removed afterwards with its dead-letter queue and
exchange."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aio_pika
import pytest

from conveyor.amqp import dead_letter_exchange_name, dead_letter_queue_name


@pytest.fixture
def queue(unique_name: str, amqp_url: str) -> Iterator[str]:
    yield unique_name
    asyncio.run(_cleanup(amqp_url, unique_name))


async def _cleanup(url: str, queue: str) -> None:
    async with await aio_pika.connect_robust(url) as connection:
        channel = await connection.channel()
        for name in (queue, dead_letter_queue_name(queue)):
            await channel.queue_delete(name)
        await channel.exchange_delete(dead_letter_exchange_name(queue))
