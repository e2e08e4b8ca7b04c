"""The publisher through a broker connection that is refused at start or drops while it publishes: every record is
confirmed in the end, none is given up (a relay in front of the machine's RabbitMQ is cut; the broker runs on)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aio_pika
import pytest

from conveyor.amqp import declare_service_queue
from data_source.publisher import Publisher, PublishOptions, PublishSummary
from tests.data_source.test_data_source import drain, factory, frame
from tests.support import wait_for_async
from tests.worker.broker_cut import BrokerCut


async def _ids(url: str, queue: str) -> list[str]:
    return [message.message_id or "" for message in await drain(url, queue)]


async def _until(condition: Callable[[], bool], what: str) -> None:
    """The suite's wait_for_async (a deadline, growing pauses) on a plain condition with nothing to await."""

    async def check() -> bool:
        return condition()

    await wait_for_async(check, 30, what)


def test_a_publisher_started_while_the_broker_is_unreachable_waits_and_sends_everything(
        queue: str, amqp_url: str, cut: BrokerCut, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="conveyor.retry")

    async def scenario() -> PublishSummary:
        running = asyncio.create_task(Publisher(PublishOptions(queue, cut.amqp_url, rows=20), factory()).run())
        await _until(lambda: "connecting to the broker failed" in caplog.text, "a refused connect")
        cut.open()
        return await asyncio.wait_for(running, 60)

    summary = asyncio.run(scenario())
    assert summary.confirmed == 20
    assert sorted(asyncio.run(_ids(amqp_url, queue))) == sorted(f"run-{i}-0" for i in range(20))


def test_a_publisher_whose_connection_drops_sends_every_record_again_until_confirmed(
        queue: str, amqp_url: str, cut: BrokerCut) -> None:
    cut.open()
    publisher = Publisher(PublishOptions(queue, cut.amqp_url, rows=60, rate=40, publishers=2), factory(frame=frame(60)))

    async def scenario() -> PublishSummary:
        running = asyncio.create_task(publisher.run())
        await _until(lambda: publisher.summary.confirmed >= 15, "15 records confirmed")
        cut.cut()
        cut.open()
        return await asyncio.wait_for(running, 90)

    summary = asyncio.run(scenario())
    assert summary.confirmed == 60 and summary.published == 60
    ids = asyncio.run(_ids(amqp_url, queue))
    assert set(ids) == {f"run-{i}-0" for i in range(60)}  # a record whose confirm was lost may be there twice


def test_a_record_the_broker_returns_unrouted_is_sent_again_until_its_queue_takes_it(queue: str,
                                                                                      amqp_url: str) -> None:
    """Found by `conveyor bench faults`: records confirmed around the broker's stop_app never reached the queue. A
    message no queue takes is returned, and aio_pika's default answers the returned message as if confirmed."""
    publisher = Publisher(PublishOptions(queue, amqp_url, rows=60, rate=40, keep_published_at=True),
                          factory(frame=frame(60)))

    async def scenario() -> tuple[PublishSummary, set[str]]:
        running = asyncio.create_task(publisher.run())
        await _until(lambda: publisher.summary.confirmed >= 10, "10 records confirmed")
        async with await aio_pika.connect_robust(amqp_url) as connection:
            channel = await connection.channel()
            await channel.queue_delete(queue)  # what was confirmed so far goes with it
            gone = set(publisher.summary.published_at)
            await _until(lambda: publisher.summary.retried > 0, "a returned record sent again")
            await declare_service_queue(channel, queue)
        return await asyncio.wait_for(running, 60), gone

    summary, gone = asyncio.run(scenario())
    assert summary.confirmed == 60
    ids = set(asyncio.run(_ids(amqp_url, queue)))
    assert {f"run-{i}-0" for i in range(60)} - gone <= ids, "every record confirmed after the deletion is queued"
