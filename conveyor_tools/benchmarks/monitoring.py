"""Seconds for a data-drift and a regression-performance report over N production rows.

Starts a throwaway stack, stores training rows and N labelled production rows, then asks
monitoring_api for each report over the whole window (sampled to its cap, which it states).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx
import numpy as np

from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.records import to_records
from conveyor_tools.demo_dataset import DEMO_DATASET, demo_splits, demo_stream
from conveyor_tools.stack import Stack, StackConfig

BATCH = 10_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--sample-cap", type=int, default=20_000, help="monitoring_api's MONITORING_SAMPLE_CAP")


async def _load(stack: Stack, rows: int, dataset: str) -> None:
    token = stack.config.api_token
    training, _ = demo_splits(rows=6000)
    stream = demo_stream(rows, seed=3)[training.columns]
    rng = np.random.default_rng(0)
    async with QueueManagerClient(stack.qm_url, token) as qm, MLDataClient(stack.ml_url, token, timeout=300) as ml:
        await qm.ensure_dataset(DEMO_DATASET.model_copy(update={"name": dataset}))
        await ml.insert_rows(dataset, "training", to_records(training))
        records = to_records(stream.drop(columns=["quality"]))
        labels = stream["quality"].tolist()
        for start in range(0, rows, BATCH):
            chunk = records[start:start + BATCH]
            for i, row in enumerate(chunk, start):
                row.update(record_id=f"m-{i}", prediction=float(labels[i] + rng.normal(0, 20)), service="bench",
                           model_name="m", model_version=1, job_id=f"j{i}")
            await ml.insert_rows(dataset, "production", chunk)
            await ml.post_labels(dataset, [{"record_id": f"m-{i}", "label": labels[i]}
                                                     for i in range(start, min(start + BATCH, rows))])


def _time(stack: Stack, dataset: str, kind: str, rows: int, fmt: str = "json") -> dict[str, Any]:
    started = time.perf_counter()
    response = httpx.get(f"{stack.monitoring_url}/monitoring_api/{kind}", params={
        "dataset": dataset, "service": "bench", "current_rows": rows, "format": fmt}, timeout=600,
        headers={"Authorization": f"Bearer {stack.config.api_read_token}"})
    seconds = time.perf_counter() - started
    response.raise_for_status()
    out: dict[str, Any] = {"seconds": round(seconds, 2)}
    if fmt == "json":
        body = response.json()
        out["current_rows_used"] = body["current"]["rows"]
        out["current_total"] = body["current"]["total"]
        if body["reference"]:
            out["reference_rows_used"] = body["reference"]["rows"]
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = StackConfig.throwaway()
    config.retraining = False  # reports only: no retraining_api, its executor and their PyCaret start
    config.extra_env = {"CHECK_INTERVAL_SECONDS": "0", "MONITORING_SAMPLE_CAP": str(args.sample_cap)}
    with Stack(config) as stack:
        return measure(stack, args)


def measure(stack: Stack, args: argparse.Namespace, dataset: str = DEMO_DATASET.name) -> dict[str, Any]:
    """The figures on a running stack whose monitoring_api samples windows to `args.sample_cap` rows."""
    started = time.perf_counter()
    asyncio.run(_load(stack, args.rows, dataset))
    loaded = time.perf_counter() - started
    _time(stack, dataset, "data_drift", 100)  # warm up: imports and first queries
    return {
        "rows": args.rows, "sample_cap": args.sample_cap, "load_seconds": round(loaded, 1),
        "data_drift": _time(stack, dataset, "data_drift", args.rows),
        "regression_performance": _time(stack, dataset, "regression_performance", args.rows),
        "data_drift_html": _time(stack, dataset, "data_drift", args.rows, "html"),
    }
