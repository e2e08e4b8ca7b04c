"""Promotion moves the service; a running worker then serves the new version."""

from __future__ import annotations

import asyncio
import time

import httpx

from conveyor_tools.demo_dataset import DEMO_FEATURES, demo_stream
from data_source.publisher import PublishOptions, publish_rows
from data_source.records import MessageFactory
from tests.retraining_api.conftest import seed


def _versions(seeded, expected: int) -> dict[int, int]:  # type: ignore[no-untyped-def]
    url = f"{seeded.stack.ml_url}/ml_data_api/datasets/{seeded.dataset}/production/rows"
    deadline = time.monotonic() + 90
    while True:
        rows = httpx.get(url, params={"service": seeded.service, "limit": 10_000}).json()["rows"]
        if len(rows) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert len(rows) >= expected, f"{len(rows)} rows of {expected}\n{seeded.stack.log_tail(f'w-{seeded.service}')}"
    counts: dict[int, int] = {}
    for row in rows:
        counts[row["model_version"]] = counts.get(row["model_version"], 0) + 1
    return counts


def _publish(seeded, run_id: str, rows: int) -> None:  # type: ignore[no-untyped-def]
    stream = demo_stream(rows, seed=11, after_rows=3000)
    factory = MessageFactory(frame=stream, features=DEMO_FEATURES, run_id=run_id)
    asyncio.run(publish_rows(PublishOptions(seeded.service, rows=rows), factory))


def test_promote_reassigns_the_service_and_the_worker_serves_the_new_version(stack) -> None:  # type: ignore[no-untyped-def]
    seeded = seed(stack, production_rows=0)
    stack.start_python("worker", name=f"w-{seeded.service}", env={
        "SERVICE_NAME": seeded.service, "MODEL_CACHE_DIR": str(stack.config.state_dir / "models"),
        "VERSION_CHECK_SECONDS": "2", "WORKER_METRICS_PORT": "0"})
    _publish(seeded, "before", 50)
    assert _versions(seeded, 50) == {1: 50}

    run = seeded.wait_run(seeded.start_run().json()["id"])
    assert run["status"] == "finished" and run["new_version"] == 2, run
    promotion = httpx.post(f"{seeded.url}/runs/{run['id']}/promote", headers=seeded.headers, timeout=60)
    assert promotion.status_code == 200, promotion.text
    assert promotion.json() == {"run_id": run["id"], "algorithm": seeded.model, "version": 2,
                                "previous_version": 1, "services": [seeded.service]}
    assert seeded.run(run["id"])["promoted"] is True
    assert seeded.qm(f"algorithms/{seeded.model}/2")["stage"] == "production"
    assert seeded.qm(f"algorithms/{seeded.model}/1")["stage"] == "archived"
    assert seeded.qm(f"services/{seeded.service}")["algorithm"] == {"name": seeded.model, "version": 2}

    # The worker learns of the new assignment by event (or its revision poll) and swaps models.
    time.sleep(3)
    _publish(seeded, "after", 50)
    counts = _versions(seeded, 100)
    assert counts.get(2) == 50 and counts.get(1) == 50, counts

    # Promoting a version by name and number moves the services back, the same way.
    back = httpx.post(f"{seeded.url}/models/{seeded.model}/1/promote", headers=seeded.headers, timeout=60)
    assert back.status_code == 200, back.text
    assert back.json()["services"] == [seeded.service] and back.json()["previous_version"] == 2
    assert seeded.qm(f"services/{seeded.service}")["algorithm"]["version"] == 1
