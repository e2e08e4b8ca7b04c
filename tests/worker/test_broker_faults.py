"""A broker that stops while a worker starts, waits for a model or consumes delays the worker, never ends it.

Against a RabbitMQ node of the module's own (conveyor_tools.benchmarks.private_services), stopped and started with
`rabbitmqctl stop_app` / `start_app` as `conveyor bench faults` does: the machine's broker is never touched. Found
by that benchmark: a worker restarted just before the broker's stop_app ended with ChannelInvalidStateError from
its `queue.consume` (the robust connection was back, the channel not yet restored), and a worker started while the
broker was down ended at its first connect. Slow (the node takes about 25 s to boot), so marked `slow`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence

import aio_pika
import pytest

from conveyor.amqp import declare_service_queue
from conveyor_tools.benchmarks.private_services import PrivateRabbitMQ, temp_base
from conveyor_tools.stack import Component, Stack, StackConfig
from tests.worker.bad_models import NOT_A_MODEL
from tests.worker.conftest import Service, named

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rabbit() -> Iterator[PrivateRabbitMQ]:
    node = PrivateRabbitMQ(temp_base("rabbitmq"))
    try:
        node.start()
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def stack(rabbit: PrivateRabbitMQ) -> Iterator[Stack]:
    """This module's stack: its services and workers talk to the private node (the `service` fixture uses it)."""
    config = StackConfig.throwaway()
    config.retraining = False
    config.monitoring = False
    config.extra_env = {"AMQP_URL": rabbit.amqp_url, "MONITORING_CHECK_INTERVAL_SECONDS": "0"}
    with Stack(config) as s:
        yield s


def stop_app(rabbit: PrivateRabbitMQ) -> None:
    done = rabbit.ctl("stop_app")
    assert done.returncode == 0, done.stdout + done.stderr


def start_app(rabbit: PrivateRabbitMQ) -> None:
    done = rabbit.ctl("start_app")
    assert done.returncode == 0, done.stdout + done.stderr


async def publish(url: str, queue: str, bodies: Sequence[dict]) -> None:
    async with await aio_pika.connect_robust(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare_service_queue(channel, queue)
        for body in bodies:
            await channel.default_exchange.publish(
                aio_pika.Message(json.dumps(body).encode(), message_id=body["record_id"],
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=queue)


def serves(service: Service, rabbit: PrivateRabbitMQ, worker: Component, prefix: str, count: int = 20) -> None:
    """`count` records published now are all finished by the worker, which never exited."""
    before = service.job_total("finished")
    asyncio.run(publish(rabbit.amqp_url, service.queue, [named(i, prefix) for i in range(count)]))
    service.wait_for(lambda: service.job_total("finished") == before + count, timeout=90,
                     what=f"the {prefix} records finished")
    assert worker.proc.poll() is None, service.log(worker)


def wait_in_log(service: Service, worker: Component, text: str, after: int = 0, timeout: float = 60) -> None:
    """Until `text` is in the worker's log past offset `after`; the worker must stay up meanwhile."""
    service.wait_for(lambda: text in service.log(worker)[after:], timeout=timeout, what=repr(text))


def test_a_worker_started_while_the_broker_is_down_waits_for_it(service: Service, rabbit: PrivateRabbitMQ) -> None:
    stop_app(rabbit)
    try:
        worker = service.start_worker("early")
        wait_in_log(service, worker, "connecting to the broker failed")
        assert worker.proc.poll() is None
    finally:
        start_app(rabbit)
    wait_in_log(service, worker, "consuming", timeout=90)
    serves(service, rabbit, worker, "early")


def test_a_broker_stop_before_the_worker_consumes_delays_it(service: Service, rabbit: PrivateRabbitMQ) -> None:
    # A champion that does not load: the worker is connected and declared, and waits for a model to consume with.
    service.assign(service.store_directly(NOT_A_MODEL))
    worker = service.start_worker("waiting", WORKER_MODEL_RETRY_SECONDS="600")
    wait_in_log(service, worker, "no model to predict with")
    stop_app(rabbit)
    try:
        mark = len(service.log(worker))
        service.assign(1)  # learnt by polling queue_manager: the event cannot pass while the broker is down
        # Its consume now meets the stopped broker (before the fix it raised there and the worker ended: every
        # wait below fails on a worker that exited).
        wait_in_log(service, worker, f"predicting with {service.name}_model v1", after=mark)
    finally:
        start_app(rabbit)
    wait_in_log(service, worker, "consuming", timeout=90)
    serves(service, rabbit, worker, "late")


def test_a_consuming_worker_carries_on_through_stop_app_and_start_app(service: Service,
                                                                      rabbit: PrivateRabbitMQ) -> None:
    worker = service.start_worker("steady")
    wait_in_log(service, worker, "consuming")
    serves(service, rabbit, worker, "before")
    stop_app(rabbit)
    start_app(rabbit)
    serves(service, rabbit, worker, "after")
