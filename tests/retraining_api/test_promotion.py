"""Promotion moves the service; a running worker then serves the new version."""

from __future__ import annotations

import asyncio
import itertools

import httpx

from conveyor_tools.demo_dataset import DEMO_FEATURES, demo_stream
from conveyor_tools.stack import Stack
from data_source.publisher import PublishOptions, publish_rows
from data_source.records import MessageFactory
from tests.retraining_api.conftest import Seeded, seed
from tests.support import wait_for


def _served(seeded: Seeded, run_id: str, expected: int) -> dict[int, int]:
    """Model version -> rows, of the `expected` records published as `run_id`, once all are stored."""
    url = f"{seeded.stack.ml_url}/ml_data_api/datasets/{seeded.dataset}/production/rows"

    def stored() -> list[dict]:
        rows = httpx.get(url, params={"service": seeded.service, "limit": 10_000},
                         headers=seeded.read_headers).json()["rows"]
        mine = [row for row in rows if row["record_id"].startswith(f"{run_id}-")]
        return mine if len(mine) >= expected else []

    rows = wait_for(stored, 90, f"{expected} records of {run_id} stored", interval=0.3,
                    details=lambda: seeded.stack.log_tail(f"w-{seeded.service}"))
    counts: dict[int, int] = {}
    for row in rows:
        counts[row["model_version"]] = counts.get(row["model_version"], 0) + 1
    return counts


def _publish(seeded: Seeded, run_id: str, rows: int) -> None:
    stream = demo_stream(rows, seed=11, after_rows=3000)
    factory = MessageFactory(frame=stream, features=DEMO_FEATURES, run_id=run_id)
    asyncio.run(publish_rows(PublishOptions(seeded.service, rows=rows), factory))


def test_promote_reassigns_the_service_and_the_worker_serves_the_new_version(stack: Stack) -> None:
    seeded = seed(stack, production_rows=0)
    stack.start_python("worker", name=f"w-{seeded.service}", env={
        "SERVICE_NAME": seeded.service, "MODEL_CACHE_DIR": str(stack.config.state_dir / "models"),
        "VERSION_CHECK_SECONDS": "2", "WORKER_METRICS_PORT": "0"})
    _publish(seeded, "before", 50)
    assert _served(seeded, "before", 50) == {1: 50}

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

    # The worker learns of the new assignment by event (or its revision poll) and swaps models
    # between batches: one record at a time until one is served by version 2, then every
    # record published after that is served by it, none lost.
    probes = (f"probe{n}" for n in itertools.count())

    def a_probe_served_by_version_2() -> bool:
        probe = next(probes)
        _publish(seeded, probe, 1)
        return _served(seeded, probe, 1) == {2: 1}

    wait_for(a_probe_served_by_version_2, 60, "the worker serving version 2 after the promotion", interval=0.3,
             details=lambda: seeded.stack.log_tail(f"w-{seeded.service}"))
    _publish(seeded, "after", 50)
    assert _served(seeded, "after", 50) == {2: 50}
    assert _served(seeded, "before", 50) == {1: 50}, "the rows served before keep their version"

    # Promoting a version by name and number moves the services back, the same way.
    back = httpx.post(f"{seeded.url}/models/{seeded.model}/1/promote", headers=seeded.headers, timeout=60)
    assert back.status_code == 200, back.text
    assert back.json()["services"] == [seeded.service] and back.json()["previous_version"] == 2
    assert seeded.qm(f"services/{seeded.service}")["algorithm"]["version"] == 1
