"""Evaluation of any version, explainer dashboards, and the 4xx answers to bad input."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_FEATURES
from conveyor_tools.stack import Stack
from tests.retraining_api.conftest import Seeded, seed
from tests.retraining_api.test_runs import download


def test_evaluate_any_split_matches_a_direct_evaluation(seeded: Seeded) -> None:
    schema = DEMO_DATASET.model_copy(update={"name": seeded.dataset})
    model = download(seeded, 1)
    for split, rows in (("training", seeded.training), ("testing", seeded.testing)):
        answer = httpx.get(f"{seeded.url}/evaluate", params={"model_name": seeded.model, "version": 1,
                                                             "evaluate_on": split},
                           headers=seeded.read_headers, timeout=60)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["version"] == 1 and body["rows"] == len(rows) and body["evaluate_on"] == split
        from conveyor.training import evaluate

        direct = evaluate(model, rows, schema)
        assert body["results"]["RMSE"] == pytest.approx(direct["RMSE"])
        assert body["results"]["R2"] == pytest.approx(direct["R2"])
    # Production: the labelled rows, scored against their labels.
    answer = httpx.get(f"{seeded.url}/evaluate", params={"model_name": seeded.model, "evaluate_on": "production"},
                       timeout=60, headers=seeded.read_headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == len(seeded.production)
    truth = seeded.production.rename(columns={"quality": "quality"})
    from conveyor.training import evaluate

    direct = evaluate(model, truth[[*DEMO_FEATURES, "quality"]], schema)
    assert answer.json()["results"]["MAE"] == pytest.approx(direct["MAE"])


def _explainer(seeded: Seeded, **params: Any) -> httpx.Response:
    return httpx.get(f"{seeded.url}/get_explainer_dashboard",
                     params={"model_name": seeded.model, "evaluate_on": "testing", **params},
                     headers=seeded.read_headers, timeout=60)


def test_explainer_dashboard_is_built_in_the_background_then_served_from_the_store(seeded: Seeded) -> None:
    first = _explainer(seeded, rows=40)
    assert first.status_code == 202, first.text
    status = first.json()
    assert status["status"] in ("queued", "running") and status["rows"] == 40 and status["version"] == 1
    deadline = time.monotonic() + 120
    answer = first
    while answer.status_code == 202:
        assert time.monotonic() < deadline, f"not built: {answer.text}\n{seeded.stack.log_tail('retraining_executor')}"
        time.sleep(0.5)
        answer = _explainer(seeded, rows=40)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert "<html" in html.lower() and all(f in html for f in DEMO_FEATURES[:4])

    started = time.perf_counter()
    again = _explainer(seeded, rows=40)
    assert again.status_code == 200 and again.text == html
    assert time.perf_counter() - started < 2, "the second request is served from the store, not rebuilt"
    # Another row count is another dashboard.
    assert _explainer(seeded, rows=50).status_code == 202


def test_explainer_for_production_rows_of_a_tree_model(stack: Stack) -> None:
    seeded = seed(stack, production_rows=60)
    run = seeded.wait_run(seeded.start_run(include=["dt"]).json()["id"])
    assert run["status"] == "finished", run
    params = {"version": run["new_version"], "evaluate_on": "production", "rows": 60}
    deadline = time.monotonic() + 120
    while (answer := _explainer(seeded, **params)).status_code == 202:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.5)
    assert answer.status_code == 200, answer.text
    assert "T_data_1_1" in answer.text


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"algorithm": "no_such_model"}, 404, "unknown model 'no_such_model'"),
    ({"dataset": "no_such_dataset"}, 404, "unknown dataset 'no_such_dataset'"),
    ({"include": ["lr", "not_a_model"]}, 422, "unknown PyCaret model id(s) ['not_a_model']"),
    ({"include": []}, 422, "include is empty"),
    ({"training": {"source": "training", "start": "2999-01-01T00:00:00Z"}}, 422, "to train on"),
    ({"training": {"start": "2024-02-01T00:00:00Z", "end": "2024-01-01T00:00:00Z"}}, 422, "before training.end"),
    ({"margin": -1}, 422, "margin"),
])
def test_bad_run_requests_get_a_clear_4xx(seeded: Seeded, body: dict, status: int, message: str) -> None:
    answer = seeded.start_run(**body)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["detail"]


def test_a_holdout_without_labels_is_refused(stack: Stack) -> None:
    seeded = seed(stack, production_rows=0)
    answer = seeded.start_run(holdout={"source": "production", "last": 100})
    assert answer.status_code == 422
    assert "the holdout has no labelled production rows" in answer.json()["detail"]
    answer = httpx.get(f"{seeded.url}/evaluate", params={"model_name": seeded.model, "evaluate_on": "production"},
                       headers=seeded.read_headers)
    assert answer.status_code == 422 and "no labelled production rows" in answer.json()["detail"]


def test_unknown_models_versions_and_runs_are_404(seeded: Seeded) -> None:
    unknown: list[dict[str, Any]] = [{"model_name": "nope", "evaluate_on": "testing"},
                                     {"model_name": seeded.model, "version": 99, "evaluate_on": "testing"}]
    for params in unknown:
        answer = httpx.get(f"{seeded.url}/evaluate", params=params, headers=seeded.read_headers)
        assert answer.status_code == 404, answer.text
        explainer = httpx.get(f"{seeded.url}/get_explainer_dashboard", params=params, headers=seeded.read_headers)
        assert explainer.status_code == 404
    assert "has no version 99" in httpx.get(f"{seeded.url}/evaluate", params={
        "model_name": seeded.model, "version": 99, "evaluate_on": "testing"},
        headers=seeded.read_headers).json()["detail"]
    assert httpx.get(f"{seeded.url}/runs/999999", headers=seeded.read_headers).status_code == 404
    assert httpx.post(f"{seeded.url}/runs/999999/promote", headers=seeded.headers).status_code == 404
    assert httpx.get(f"{seeded.url}/evaluate", params={"model_name": seeded.model,
                                                       "evaluate_on": "nowhere"},
                     headers=seeded.read_headers).status_code == 422


def test_writes_need_the_token(seeded: Seeded) -> None:
    answer = httpx.post(f"{seeded.url}/runs", json={"dataset": seeded.dataset, "algorithm": seeded.model})
    assert answer.status_code == 401
    assert httpx.post(f"{seeded.url}/models/{seeded.model}/1/promote").status_code == 401


def test_pycaret_models_lists_the_ids_include_accepts(seeded: Seeded) -> None:
    answer = httpx.get(f"{seeded.url}/pycaret_models", params={"task": "regression"}, headers=seeded.read_headers,
                       timeout=60)
    assert answer.status_code == 200
    ids = {m["id"] for m in answer.json()["models"]}
    assert {"lr", "dt", "rf", "ridge"} <= ids
    assert httpx.get(f"{seeded.url}/pycaret_models", params={"task": "clustering"},
                     headers=seeded.read_headers).status_code == 422
