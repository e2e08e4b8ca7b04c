"""Retraining runs end to end: the executor process trains with PyCaret on the stored rows."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from conveyor.clients import QueueManagerClient
from conveyor.training import evaluate, load_model
from conveyor_tools.stack import Stack
from tests.retraining_api.conftest import Seeded, seed

METRICS = {"Model", "MAE", "MSE", "RMSE", "R2", "RMSLE", "MAPE"}


def download(seeded: Seeded, version: int) -> Any:
    async def get() -> bytes:
        async with QueueManagerClient(seeded.stack.qm_url, seeded.stack.config.api_token) as qm:
            return await qm.download_algorithm(seeded.model, version)

    return load_model(asyncio.run(get()))


def test_run_registers_next_version_and_compares_on_the_same_holdout(seeded: Seeded) -> None:
    response = seeded.start_run()
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued" and response.headers["location"] == accepted["url"]

    # While PyCaret works in the executor, the API answers other requests at once.
    seeded.wait_run(accepted["id"], ("running",), timeout=60)
    answered = []
    for path in ("/health", "/retraining_api/runs", f"/retraining_api/runs/{accepted['id']}"):
        started = time.perf_counter()
        reply = httpx.get(f"{seeded.stack.retraining_url}{path}", timeout=10, headers=seeded.read_headers)
        answered.append((path, reply.status_code, time.perf_counter() - started))
    evaluation = httpx.get(f"{seeded.url}/evaluate", params={"model_name": seeded.model, "evaluate_on": "testing"},
                           timeout=30, headers=seeded.read_headers)
    still = seeded.run(accepted["id"])
    assert still["status"] == "running", "the run ended before the requests could be checked"
    assert all(code == 200 and seconds < 2 for _, code, seconds in answered), answered
    assert evaluation.status_code == 200, evaluation.text

    run = seeded.wait_run(accepted["id"])
    assert run["status"] == "finished", run
    assert run["progress"] == {"stage": "finished", "percent": 100}
    assert run["previous_version"] == 1 and run["new_version"] == 2
    assert run["training_rows"] == len(seeded.training) and run["holdout_rows"] == len(seeded.testing)
    assert run["log_tail"], "the run keeps a log tail"
    assert run["decision"]["auto_promote"] is False and run["decision"]["promoted"] is False

    comparison = run["comparison"]
    assert set(comparison) == {"retrained_model_results", "previous_model_results"}
    assert set(comparison["retrained_model_results"]) == METRICS
    assert set(comparison["previous_model_results"]) == METRICS

    # Both numbers equal a direct evaluation of both models on the same (testing) rows.
    from conveyor_tools.demo_dataset import DEMO_DATASET

    schema = DEMO_DATASET.model_copy(update={"name": seeded.dataset})
    for version, key in ((2, "retrained_model_results"), (1, "previous_model_results")):
        direct = evaluate(download(seeded, version), seeded.testing, schema)
        for metric in ("MAE", "MSE", "RMSE", "R2", "MAPE"):
            assert comparison[key][metric] == pytest.approx(direct[metric], rel=1e-9), (key, metric)

    registered = seeded.qm(f"algorithms/{seeded.model}/2")
    assert registered["stage"] == "staging"
    assert registered["metrics"]["RMSE"] == pytest.approx(comparison["retrained_model_results"]["RMSE"])
    assert registered["config_file"] is not None
    seeded.assert_stages({1: "production"}, service_version=1)

    listed = httpx.get(f"{seeded.url}/runs", params={"dataset": seeded.dataset, "status": "finished"},
                       headers=seeded.read_headers).json()
    assert [r["id"] for r in listed] == [accepted["id"]]
    assert httpx.get(f"{seeded.url}/runs", params={"dataset": seeded.dataset, "status": "failed"},
                     headers=seeded.read_headers).json() == []


def test_auto_promote_with_a_margin_it_cannot_beat_keeps_the_old_model(stack: Stack) -> None:
    seeded = seed(stack, production_rows=0)
    response = seeded.start_run(auto_promote=True, margin=5.0)  # 500 % better: impossible
    assert response.status_code == 202, response.text
    run = seeded.wait_run(response.json()["id"])
    assert run["status"] == "finished", run
    decision = run["decision"]
    assert decision["auto_promote"] is True and decision["promoted"] is False
    assert decision["metric"] == "RMSE" and decision["margin"] == 5.0
    assert "not promoted" in decision["reason"] and "500.00%" in decision["reason"]
    assert run["promoted"] is False
    seeded.assert_stages({1: "production", 2: "staging"}, service_version=1)


def test_auto_promote_without_margin_promotes_a_better_model(stack: Stack) -> None:
    seeded = seed(stack, production_rows=0)
    # The previous model is made poor on purpose: a constant.
    from sklearn.dummy import DummyRegressor

    from conveyor.clients import QueueManagerClient as QM
    from conveyor.schemas.algorithms import AlgorithmRef, Stage, StageUpdate
    from conveyor.schemas.services import ServiceUpdate
    from conveyor.training import dump_model

    async def poor_model() -> None:
        async with QM(stack.qm_url, stack.config.api_token) as qm:
            dummy = DummyRegressor().fit(seeded.training[list(seeded.training.columns[:1])], seeded.training["quality"])
            await qm.upload_algorithm(name=seeded.model, dataset=seeded.dataset, model=dump_model(dummy))
            await qm.set_stage(seeded.model, 2, StageUpdate(stage=Stage.production))
            await qm.update_service(seeded.service, ServiceUpdate(algorithm=AlgorithmRef(name=seeded.model, version=2)))

    asyncio.run(poor_model())
    run = seeded.wait_run(seeded.start_run(auto_promote=True, margin=0.05).json()["id"])
    assert run["status"] == "finished", run
    assert run["previous_version"] == 2 and run["new_version"] == 3
    assert run["decision"]["promoted"] is True, run["decision"]
    assert seeded.service in run["decision"]["reason"]
    assert run["promoted"] is True
    seeded.assert_stages({3: "production", 2: "archived"}, service_version=3)


def test_a_run_that_fails_inside_pycaret_ends_failed_with_the_error(stack: Stack) -> None:
    seeded = seed(stack, production_rows=0)
    # Labels as training data for a model of five training rows: PyCaret's cross-validation refuses it.
    response = seeded.start_run(training={"source": "production"}, new_model=False)
    assert response.status_code == 422  # no labelled production rows: refused before queueing
    few = seed(stack, production_rows=4)
    response = few.start_run(training={"source": "production"})
    assert response.status_code == 202, response.text
    run = few.wait_run(response.json()["id"], timeout=180)
    assert run["status"] == "failed", run
    assert "PyCaret could not fit any of ['lr', 'dt'] on 4 training rows" in run["error"]
    assert run["finished_at"] is not None and run["new_version"] is None
    assert [a["version"] for a in few.qm("algorithms", name=few.model)] == [1]
    promote = httpx.post(f"{few.url}/runs/{run['id']}/promote", headers=few.headers)
    assert promote.status_code == 409 and "failed" in promote.json()["detail"]
