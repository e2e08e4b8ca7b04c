"""Helpers for tests: waiting on a condition with a deadline, a small real HTTP server, a dataset with rows."""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TypeVar

import pandas as pd
import uvicorn
from fastapi import FastAPI

from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.records import to_records
from conveyor.schemas.datasets import DatasetSchema
from conveyor_tools import devstack

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.2,
             details: Callable[[], str] | None = None) -> T:
    """Poll `condition` until it returns something truthy, and return that (soon after, then every `interval`).

    After `timeout` seconds the test fails with "`what` did not happen", followed by
    `details()` (a log tail, the last value seen) when given, so the failure says what
    was expected rather than what a fixed sleep assumed.
    """
    deadline = time.monotonic() + timeout
    pauses = _pauses(interval)
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _did_not_happen(what, timeout, details)
        time.sleep(next(pauses))


async def wait_for_async(condition: Callable[[], Awaitable[T]], timeout: float, what: str, interval: float = 0.2,
                         details: Callable[[], str] | None = None) -> T:
    """`wait_for` inside an event loop: the condition is awaited, the loop keeps running meanwhile."""
    deadline = time.monotonic() + timeout
    pauses = _pauses(interval)
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _did_not_happen(what, timeout, details)
        await asyncio.sleep(next(pauses))


def _pauses(interval: float) -> Iterator[float]:
    """10 ms, doubled up to `interval`: what is nearly done is seen at once, what takes long is asked every
    `interval` (a test waits on average half a pause past the moment it could go on, ~100 ms at 0.2 s)."""
    pause = min(0.01, interval)
    while True:
        yield pause
        pause = min(2 * pause, interval)


def _did_not_happen(what: str, timeout: float, details: Callable[[], str] | None) -> AssertionError:
    extra = f"\n{details()}" if details else ""
    return AssertionError(f"{what} did not happen within {timeout:g}s{extra}")


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve `app` on a free port in a thread; yields its base URL."""
    port = devstack.free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 30, "the test HTTP server starting", interval=0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


async def register_dataset(qm: QueueManagerClient, ml: MLDataClient, schema: DatasetSchema,
                           **splits: pd.DataFrame) -> None:
    """`schema` registered in queue_manager, then each split's rows stored in ml_data_api
    (`training=...`, `testing=...`, `production=...`)."""
    await qm.create_dataset(schema)
    for split, frame in splits.items():
        await ml.insert_rows(schema.name, split, to_records(frame))


def bench_args(benchmark: ModuleType, *options: str) -> argparse.Namespace:
    """The options of `conveyor bench <benchmark>` parsed as the command parses them."""
    parser = argparse.ArgumentParser()
    benchmark.add_arguments(parser)
    return parser.parse_args(options)
