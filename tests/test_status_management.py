"""`conveyor status` reads queue depth and consumers from RabbitMQ's management API when RABBITMQ_MANAGEMENT_URL
names it, and says plainly when it is not enabled or does not answer (then: an AMQP passive declare).

One private RabbitMQ node with the management plugin for the module (the machine's broker has no plugins and
is never given any): a service queue with messages ready, two unacknowledged in a consumer's hands and two
dead letters, and a queue of no service beside it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from conveyor.amqp import dead_letter_exchange_name, declare_service_queue
from conveyor.clients.rabbitmq_management import RabbitMQManagementClient
from conveyor_tools import devstack
from conveyor_tools.benchmarks.private_services import PrivateRabbitMQ, temp_base
from conveyor_tools.cli import status
from conveyor_tools.cli.main import main as conveyor
from tests.support import wait_for

T = TypeVar("T")
QUEUE = "gits_status_test"


class BrokerWithQueue:
    """A private node with the management plugin and one service queue in a known state, held by a consumer that
    never acknowledges (its connection lives on an event loop of its own for the module)."""

    READY, UNACKED, DEAD = 3, 2, 2

    def __init__(self, what: str) -> None:
        self.node = PrivateRabbitMQ(base=temp_base(what), plugins=("rabbitmq_management",))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None

    @property
    def management_url(self) -> str:
        return self.node.management_url.replace("http://", "http://guest:guest@")

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(60)

    def start(self) -> None:
        self.node.start()
        self.thread.start()
        self.run(self._fill())
        # The management API's counts are sampled every few seconds: wait until they show the state made.
        wait_for(lambda: self.run(self._shown()), 60, "the management API to show the queue's messages and consumer")

    async def _fill(self) -> None:
        self.connection = await aio_pika.connect_robust(self.node.amqp_url)
        channel = await self.connection.channel()
        await declare_service_queue(channel, QUEUE)
        await channel.declare_queue("not_a_service_queue", durable=True)
        for _ in range(self.READY + self.UNACKED):
            await channel.default_exchange.publish(aio_pika.Message(b"{}"), routing_key=QUEUE)
        dlx = await channel.get_exchange(dead_letter_exchange_name(QUEUE))
        for _ in range(self.DEAD):
            await dlx.publish(aio_pika.Message(b"{}"), routing_key=QUEUE)
        holder = await self.connection.channel()
        await holder.set_qos(prefetch_count=self.UNACKED)
        queue = await holder.get_queue(QUEUE)
        await queue.consume(_hold)  # holds UNACKED, acknowledges none

    async def _shown(self) -> bool:
        async with RabbitMQManagementClient(self.management_url) as client:
            queues = await client.service_queues()
        return bool(queues) and queues[0].unacknowledged == self.UNACKED and queues[0].dead_letters == self.DEAD

    def stop(self) -> None:
        if self.connection is not None:
            self.run(self.connection.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.node.stop()


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerWithQueue]:
    held = BrokerWithQueue("status-mgmt")
    try:
        held.start()
        yield held
    finally:
        held.stop()


async def _registered() -> list[str]:
    return [QUEUE, "gits_never_declared"]


def test_the_management_api_gives_depth_unacknowledged_consumers_and_dead_letters(broker: BrokerWithQueue) -> None:
    report = asyncio.run(status.queue_report(broker.management_url, broker.node.amqp_url, _registered))
    assert report["source"] == f"RabbitMQ management API at http://guest@127.0.0.1:{broker.node.management_port}/api"
    # The queue of no service is left out; the dead-letter queue is counted with its service queue.
    assert report["queues"] == [{"name": QUEUE, "messages": 5, "ready": 3, "unacknowledged": 2, "consumers": 1,
                                 "dead_letters": 2}]
    assert "guest:guest" not in str(report)


def test_without_the_management_api_it_says_so_and_asks_by_passive_declare(broker: BrokerWithQueue) -> None:
    report = asyncio.run(status.queue_report("", broker.node.amqp_url, _registered))
    assert report["source"] == ("RabbitMQ management API not enabled (RABBITMQ_MANAGEMENT_URL is unset): ready "
                                "messages and consumers from an AMQP passive declare at "
                                f"amqp://guest@127.0.0.1:{broker.node.port}/")
    # A passive declare counts the ready messages only; the queue nobody declared yet is said so, not made.
    assert report["queues"] == [{"name": QUEUE, "ready": 3, "consumers": 1, "dead_letters": 2},
                                {"name": "gits_never_declared", "missing": True}]
    again = asyncio.run(status.queue_report("", broker.node.amqp_url, _registered))
    assert again["queues"][1] == {"name": "gits_never_declared", "missing": True}


def test_a_management_api_that_refuses_or_is_not_there_is_named_and_the_declare_answers(
        broker: BrokerWithQueue) -> None:
    wrong = broker.node.management_url.replace("http://", "http://guest:wrong@")
    refused = asyncio.run(status.queue_report(wrong, broker.node.amqp_url, _registered))
    assert refused["source"].startswith(f"RabbitMQ management API at http://guest@127.0.0.1:"
                                        f"{broker.node.management_port}/api did not answer (401 ")
    assert "wrong" not in refused["source"]
    assert refused["queues"][0] == {"name": QUEUE, "ready": 3, "consumers": 1, "dead_letters": 2}
    closed = f"http://guest:guest@127.0.0.1:{devstack.free_port()}/api"
    absent = asyncio.run(status.queue_report(closed, broker.node.amqp_url, _registered))
    assert "did not answer" in absent["source"] and "ConnectError" in absent["source"]
    assert ": ready messages and consumers from an AMQP passive declare at" in absent["source"]


def test_conveyor_status_prints_the_queues(broker: BrokerWithQueue, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    nowhere = f"http://127.0.0.1:{devstack.free_port()}"
    for name in ("QUEUE_MANAGER", "ML_DATA_API", "MONITORING_API", "RETRAINING_API", "ADMIN"):
        monkeypatch.setenv(f"{name}_URL", nowhere)
    monkeypatch.setenv("RABBITMQ_MANAGEMENT_URL", broker.management_url)
    monkeypatch.setenv("WORKER_METRICS", "")
    assert conveyor(["status"]) == 1  # the services are down
    out = capsys.readouterr().out
    assert f"queues (RabbitMQ management API at http://guest@127.0.0.1:{broker.node.management_port}/api)" in out
    assert (f"  {QUEUE:<30} 5 waiting (ready 3, unacknowledged 2), 1 consumers, 2 dead letters") in out


async def _hold(message: AbstractIncomingMessage) -> None:
    """A consumer that keeps what it is given unacknowledged, so the queue shows unacknowledged messages."""
