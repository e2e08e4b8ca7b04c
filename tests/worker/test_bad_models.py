"""A model that does not load never stops a worker: it keeps the previous one, or leaves the queue alone.

The bad models are written into queue_manager's store directly (see bad_models.store_model_directly): its upload
route refuses a file that does not load, so the store is where a worker meets one.
"""

from __future__ import annotations

import asyncio

import pytest

from conveyor_tools.stack import Component
from tests.worker.bad_models import NOT_A_MODEL, ServiceEvents, hostile_pickle, queued
from tests.worker.conftest import Service, dead_letters, named, publish

CHAMPION_FAILURES = 'worker_model_load_failures_total{role="champion"}'


def health(service: Service) -> dict | None:
    value = service.get()["champion_health"]
    return dict(value) if value else None


def failing_about(service: Service, version: int) -> dict:
    """The service's report on its champion when it says this version fails; {} until then."""
    report = health(service) or {}
    return report if report.get("state") == "failing" and report.get("champion") == service.ref(version) else {}


def versions_of(service: Service, prefix: str) -> set[int]:
    return {r["model_version"] for r in service.rows() if r["record_id"].startswith(prefix)}


def meet_a_bad_champion(service: Service, worker: Component, content: bytes, done: int) -> None:
    """Assign a model that does not load to a worker serving v1; it is the `done`th such model."""
    bad = service.store_directly(content)
    service.assign(bad)
    report = service.wait_for(lambda: failing_about(service, bad), what=f"v{bad} reported failing")
    assert report["serving"] == service.ref(1) and report["worker"] == "keeper", report
    assert report["error"].startswith("load: "), report
    assert service.metric(worker, CHAMPION_FAILURES) == done
    asyncio.run(publish(service.queue, [named(i, f"while{bad}-") for i in range(5)]))
    service.wait_for(lambda: service.job_total("finished") == 5 + 5 * done, what="records served meanwhile")
    assert versions_of(service, f"while{bad}-") == {1}, "the previous champion served them"
    assert worker.proc.poll() is None, "the worker is still running"


def test_a_champion_that_does_not_load_leaves_the_previous_one_serving(service: Service) -> None:
    events = ServiceEvents(service.name)
    # A long retry: every failed load counted below is one the test caused.
    worker = service.start_worker("keeper", WORKER_MODEL_RETRY_SECONDS="600")
    service.wait_for(lambda: "consuming" in service.log(worker), what="the worker consuming")
    asyncio.run(publish(service.queue, [named(i, "before") for i in range(5)]))
    service.wait_for(lambda: service.job_total("finished") == 5, what="5 records of v1")

    for done, content in enumerate([NOT_A_MODEL, hostile_pickle()], 1):
        meet_a_bad_champion(service, worker, content, done)
    log = service.log(worker)
    assert f"champion {service.name}_model v2 of service {service.name} does not load" in log
    assert "still serving" in log and "SystemExit: 3" in log

    good = service.upload(offset=10.0)
    service.assign(good)
    service.wait_for(lambda: f"predicting with {service.name}_model v{good}" in service.log(worker),
                     what="the good model in use")
    assert health(service) is None, "a new champion clears the report"
    asyncio.run(publish(service.queue, [named(i, "after") for i in range(5)]))
    service.wait_for(lambda: service.job_total("finished") == 20, what="records of the good model")
    assert versions_of(service, "after") == {good}

    failed = [body for key, body in events.read() if key == f"service.{service.name}.model_failed"]
    assert [(e["role"], e["stage"], e["model"]["version"], e["serving"]["version"]) for e in failed] == [
        ("champion", "load", 2, 1), ("champion", "load", 3, 1)]
    assert "SystemExit" in failed[1]["error"] and failed[0]["worker"] == "keeper"


@pytest.mark.parametrize("content", [hostile_pickle(), NOT_A_MODEL], ids=["hostile_pickle", "not_a_model"])
def test_a_worker_whose_only_model_does_not_load_leaves_the_messages_in_the_queue(service: Service,
                                                                                  content: bytes) -> None:
    bad = service.store_directly(content)
    service.assign(bad)  # before any worker ran: no worker ever had v1
    asyncio.run(publish(service.queue, [named(i, "waiting") for i in range(20)]))
    assert queued(service.queue) == 20
    # A short retry: the worker tries the same model again and again, and still takes no message.
    worker = service.start_worker("lonely", WORKER_MODEL_RETRY_SECONDS="0.5")
    report = service.wait_for(lambda: failing_about(service, bad), what="the only model reported failing")
    assert report["serving"] is None
    service.wait_for(lambda: service.metric(worker, CHAMPION_FAILURES) >= 3, what="three failed loads")
    assert "the messages stay in queue" in service.log(worker)
    assert queued(service.queue) == 20, "the messages wait in the queue"
    assert service.job_total() == 0 and asyncio.run(dead_letters(service.queue)) == []
    assert worker.proc.poll() is None, "the worker is still running"

    good = service.upload(offset=5.0)
    service.assign(good)
    service.wait_for(lambda: service.job_total("finished") == 20, what="the waiting records served")
    assert versions_of(service, "waiting") == {good}
    assert queued(service.queue) == 0 and health(service) is None
    assert service.job_total("failed") == 0 and asyncio.run(dead_letters(service.queue)) == []
