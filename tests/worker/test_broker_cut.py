"""A worker whose broker connection drops while it starts, waits for a model or consumes carries on (seconds).

The drop is a relay cut between the worker and the machine's RabbitMQ (tests/worker/broker_cut.py): the broker
itself, which other tests use, runs on. test_broker_faults.py does the same with a private node's stop_app /
start_app, as `conveyor bench faults` does, in about 45 s; this one runs in the default suite.
"""

from __future__ import annotations

import asyncio

from conveyor_tools.stack import Component
from tests.worker.bad_models import NOT_A_MODEL
from tests.worker.broker_cut import BrokerCut
from tests.worker.conftest import Service, named, publish


def start_worker(service: Service, cut: BrokerCut, name: str, **env: str) -> Component:
    return service.start_worker(name, AMQP_URL=cut.amqp_url, **env)


def wait_in_log(service: Service, worker: Component, text: str, after: int = 0) -> None:
    service.wait_for(lambda: text in service.log(worker)[after:], timeout=60, what=repr(text))


def serves(service: Service, worker: Component, prefix: str, count: int = 10) -> None:
    """`count` records published now (straight to the broker) are finished; the worker never exited."""
    before = service.job_total("finished")
    asyncio.run(publish(service.queue, [named(i, prefix) for i in range(count)]))
    service.wait_for(lambda: service.job_total("finished") == before + count, timeout=60,
                     what=f"the {prefix} records finished")
    assert worker.proc.poll() is None, service.log(worker)


def test_a_worker_started_while_the_broker_is_unreachable_waits_for_it(service: Service, cut: BrokerCut) -> None:
    worker = start_worker(service, cut, "early")  # the relay is not listening yet: the connect is refused
    wait_in_log(service, worker, "connecting to the broker failed")
    cut.open()
    wait_in_log(service, worker, "consuming")
    serves(service, worker, "early")


def test_a_connection_lost_before_the_worker_consumes_delays_it(service: Service, cut: BrokerCut) -> None:
    cut.open()
    service.assign(service.store_directly(NOT_A_MODEL))  # connected and declared, the worker waits for a model
    worker = start_worker(service, cut, "waiting", WORKER_MODEL_RETRY_SECONDS="600")
    wait_in_log(service, worker, "no model to predict with")
    cut.cut()
    mark = len(service.log(worker))
    service.assign(1)
    wait_in_log(service, worker, f"predicting with {service.name}_model v1", after=mark)  # then it consumes
    cut.open()
    wait_in_log(service, worker, "consuming", after=mark)
    serves(service, worker, "late")


def test_a_consuming_worker_carries_on_after_its_connection_drops(service: Service, cut: BrokerCut) -> None:
    cut.open()
    worker = start_worker(service, cut, "steady")
    wait_in_log(service, worker, "consuming")
    serves(service, worker, "before")
    relayed = cut.connections
    cut.cut()
    cut.open()
    service.wait_for(lambda: cut.connections > relayed, what="the worker connected again")
    serves(service, worker, "after")
