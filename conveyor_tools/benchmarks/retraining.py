"""Seconds for a retraining run and an explainer dashboard, and API latency while a run works.

Starts a throwaway stack (retraining_api with its executor), stores the demo dataset's
training and testing rows and a first model, then over HTTP: starts a run, polls the API
while PyCaret works (latency of those requests), and asks for the explainer dashboard of
the new version until it is built, then once more (served from the store).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx
import numpy as np
from sklearn.linear_model import LinearRegression

from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.records import to_records
from conveyor.training import dump_model
from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_FEATURES, demo_splits
from conveyor_tools.stack import Stack, StackConfig

MODEL = "bench_model"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rows", type=int, default=6000, help="training + testing rows (80 / 20)")
    p.add_argument("--include", default="lr,ridge,dt,rf", help="PyCaret model ids the run compares")
    p.add_argument("--explainer-rows", type=int, default=500)


async def _load(stack: Stack, rows: int, dataset: str, model_name: str) -> None:
    training, testing = demo_splits(rows=rows)
    async with QueueManagerClient(stack.qm_url, stack.config.api_token) as qm, \
            MLDataClient(stack.ml_url, stack.config.api_token, timeout=300) as ml:
        await qm.ensure_dataset(DEMO_DATASET.model_copy(update={"name": dataset}))
        await ml.insert_rows(dataset, "training", to_records(training))
        await ml.insert_rows(dataset, "testing", to_records(testing))
        model = LinearRegression().fit(training[DEMO_FEATURES], training["quality"])
        await qm.upload_algorithm(name=model_name, dataset=dataset, model=dump_model(model))


def _latency(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000
    return {"requests": len(samples), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1), "max_ms": round(float(ms.max()), 1)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    with Stack(StackConfig.throwaway()) as stack:
        return measure(stack, args)


def measure(stack: Stack, args: argparse.Namespace, dataset: str = DEMO_DATASET.name,
            model_name: str = MODEL) -> dict[str, Any]:
    """The figures on a running stack with retraining_api and its executor."""
    config = stack.config
    asyncio.run(_load(stack, args.rows, dataset, model_name))
    base = f"{stack.retraining_url}/retraining_api"
    headers = {"Authorization": f"Bearer {config.api_token}"}
    reader = {"Authorization": f"Bearer {config.api_read_token}"}  # what a dashboard polling the run sends
    include = [i.strip() for i in args.include.split(",") if i.strip()]
    # The API lists PyCaret's model ids once at start; wait for that, as a running service would have.
    httpx.get(f"{base}/pycaret_models", params={"task": "regression"}, headers=reader,
              timeout=120).raise_for_status()
    started = time.perf_counter()
    answer = httpx.post(f"{base}/runs", headers=headers, timeout=120,
                        json={"dataset": dataset, "algorithm": model_name, "include": include})
    answer.raise_for_status()
    accepted = time.perf_counter() - started
    run_url = f"{base}/runs/{answer.json()['id']}"
    latencies: list[float] = []
    while True:
        t = time.perf_counter()
        state = httpx.get(run_url, headers=reader, timeout=30).json()
        httpx.get(f"{stack.retraining_url}/health", timeout=30)
        latencies.append(time.perf_counter() - t)
        if state["status"] not in ("queued", "running"):
            break
        time.sleep(0.2)
    run_seconds = time.perf_counter() - started
    if state["status"] != "finished":
        raise RuntimeError(f"the run failed: {state['error']}")

    params = {"model_name": model_name, "version": state["new_version"], "evaluate_on": "testing",
              "rows": args.explainer_rows}
    started = time.perf_counter()
    explainer = f"{base}/get_explainer_dashboard"
    while (page := httpx.get(explainer, params=params, headers=reader, timeout=120)).status_code == 202:
        time.sleep(0.1)
    page.raise_for_status()
    explainer_seconds = time.perf_counter() - started
    started = time.perf_counter()
    httpx.get(explainer, params=params, headers=reader, timeout=120).raise_for_status()
    cached_seconds = time.perf_counter() - started
    return {
        "training_rows": state["training_rows"], "holdout_rows": state["holdout_rows"], "include": include,
        "accepted_seconds": round(accepted, 3), "run_seconds": round(run_seconds, 1),
        "retrained": state["comparison"]["retrained_model_results"],
        "previous": state["comparison"]["previous_model_results"],
        "api_while_running": _latency(latencies),
        "explainer": {"rows": args.explainer_rows, "build_seconds": round(explainer_seconds, 2),
                      "cached_seconds": round(cached_seconds, 3), "html_bytes": len(page.content)},
    }
