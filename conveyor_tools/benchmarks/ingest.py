"""Rows per second of bulk inserts through ml_data_api (JSON rows and CSV uploads).

Without --url it starts its own ml_data_api on a free port over a throwaway database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from typing import Any

from conveyor.clients import MLDataClient
from conveyor.records import to_records
from conveyor.settings import DEV_TOKEN
from conveyor_tools import datagen, devstack
from conveyor_tools.demo_dataset import COLUMNS, DEMO_DATASET


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--batch-size", type=int, default=10_000)
    p.add_argument("--url", default=None, help="an ml_data_api already running (default: start one)")
    p.add_argument("--token", default=os.environ.get("API_TOKEN", DEV_TOKEN))


@contextlib.contextmanager
def own_ml_data_api() -> Iterator[tuple[str, str]]:
    database = devstack.create_database()
    port = devstack.free_port()
    token = secrets.token_hex(16)
    proc = devstack.python_module_process("ml_data_api", {
        "DATABASE_URL": devstack.database_url(database), "API_TOKEN": token,
        "ML_DATA_API_PORT": str(port), "QUEUE_MANAGER_URL": "", "CONVEYOR_ENV": "development",
    })
    try:
        devstack.wait_for_port("127.0.0.1", port, timeout=60, proc=proc)
        yield f"http://127.0.0.1:{port}", token
    finally:
        devstack.stop_process(proc)
        devstack.drop_database(database)


async def measure(url: str, token: str, rows: int, batch: int) -> dict[str, Any]:
    name = f"bench_{secrets.token_hex(4)}"
    schema = DEMO_DATASET.model_copy(update={"name": name})
    frame = datagen.generate(rows, seed=1)[COLUMNS]
    records = to_records(frame)
    production = [{**r, "record_id": f"b-{i}", "prediction": 400.0} for i, r in enumerate(records)]
    for r in production:
        del r["quality"]
    figures: dict[str, Any] = {"rows": rows, "batch_size": batch, "cores": os.cpu_count()}
    async with MLDataClient(url, token, timeout=600) as ml:
        await ml.register_dataset(schema)
        for label, split, data in (("training_json", "training", records),
                                   ("production_json", "production", production)):
            started = time.perf_counter()
            for i in range(0, rows, batch):
                await ml.insert_rows(name, split, data[i:i + batch])
            figures[label] = _rate(rows, time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(0, rows, batch):
            await ml.upload_csv(name, "testing", frame.iloc[i:i + batch].to_csv(index=False).encode())
        figures["testing_csv"] = _rate(rows, time.perf_counter() - started)
        counts = await ml.counts(name)
        figures["stored"] = counts.model_dump()
        await ml.delete_dataset(name)
    return figures


def _rate(rows: int, seconds: float) -> dict[str, float]:
    return {"seconds": round(seconds, 3), "rows_per_second": round(rows / seconds)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.url:
        return asyncio.run(measure(args.url, args.token, args.rows, args.batch_size))
    with own_ml_data_api() as (url, token):
        return asyncio.run(measure(url, token, args.rows, args.batch_size))
