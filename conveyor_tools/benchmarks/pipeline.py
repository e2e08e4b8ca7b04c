"""Records per second and publish-to-stored latency of the whole pipeline, against the bare broker.

Starts a throwaway stack and W workers, publishes N records (as fast as the broker confirms,
or at --rate), waits until all N are stored with finished jobs, and compares with
publishing, consuming and acknowledging N messages that do no work.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import datetime
from typing import Any

import aio_pika
import httpx
import numpy as np
from sklearn.linear_model import LinearRegression

from conveyor.amqp import dead_letter_exchange_name, dead_letter_queue_name, declare_service_queue
from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ServiceCreate
from conveyor.training import dump_model
from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_FEATURES, demo_splits, demo_stream
from conveyor_tools.stack import Stack, StackConfig
from data_source.publisher import PublishOptions, PublishSummary, publish_rows
from data_source.records import MessageFactory

AMQP = "amqp://guest:guest@127.0.0.1:5672/"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--records", type=int, default=20_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rate", type=float, default=0.0, help="records/s to publish at (default: as fast as confirmed)")
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--batch-wait-ms", type=int, default=20)
    p.add_argument("--publishers", type=int, default=2)
    p.add_argument("--skip-broker", action="store_true", help="do not measure the bare broker")


def _factory(records: int) -> MessageFactory:
    return MessageFactory(frame=demo_stream(min(records, 20_000)), features=DEMO_FEATURES,
                          run_id=uuid.uuid4().hex[:8])


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    array = np.asarray(values)
    return {f"p{q}": round(float(np.percentile(array, q)), 1) for q in (50, 95, 99)}


async def _setup(stack: Stack, name: str) -> None:
    training, _ = demo_splits(rows=2000)
    model = LinearRegression().fit(training[DEMO_FEATURES], training["quality"])
    token = stack.config.api_token
    async with QueueManagerClient(stack.qm_url, token) as qm:
        await qm.ensure_dataset(DEMO_DATASET)
        algorithm = await qm.upload_algorithm(name=f"{name}_model", dataset=DEMO_DATASET.name, model=dump_model(model))
        await qm.create_service(ServiceCreate(name=name, dataset=DEMO_DATASET.name, queue=name,
                                              algorithm=AlgorithmRef(name=algorithm.name, version=algorithm.version)))


async def _stored_rows(stack: Stack) -> int:
    async with MLDataClient(stack.ml_url) as ml:
        return (await ml.counts(DEMO_DATASET.name)).production


async def _finished_jobs(stack: Stack, service: str) -> int:
    # A count, not the stats endpoint: polling must not load the store it measures.
    async with QueueManagerClient(stack.qm_url) as qm:
        page = await qm.list_jobs(service=service, status="finished", limit=1)
    return page.total


async def _rows(stack: Stack) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with MLDataClient(stack.ml_url, timeout=120) as ml:
        while True:
            page = await ml.rows(DEMO_DATASET.name, "production", limit=10_000, offset=len(out))
            out += page.rows
            if len(out) >= page.total or not page.rows:
                return out


async def pipeline(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    name = f"bench_{uuid.uuid4().hex[:6]}"
    await _setup(stack, name)
    for i in range(args.workers):
        stack.start_python("worker", name=f"bench-worker-{i}", env={
            "SERVICE_NAME": name, "WORKER_ID": f"w{i}", "BATCH_SIZE": str(args.batch_size),
            "BATCH_WAIT_MS": str(args.batch_wait_ms), "MODEL_CACHE_DIR": str(stack.config.state_dir / "models"),
        })
    deadline = time.monotonic() + 120
    while not all("consuming" in stack.log_tail(f"bench-worker-{i}") for i in range(args.workers)):
        if time.monotonic() > deadline:
            raise TimeoutError("workers did not start consuming")
        await asyncio.sleep(0.2)
    options = PublishOptions(name, AMQP, rate=args.rate, publishers=args.publishers, rows=args.records, loop=True,
                             keep_published_at=True)
    started = time.time()
    summary: PublishSummary = await publish_rows(options, _factory(args.records))
    deadline = time.monotonic() + 600
    while await _stored_rows(stack) < args.records and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    while await _finished_jobs(stack, name) < args.records and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    rows = await _rows(stack)
    stored_at = {r["record_id"]: datetime.fromisoformat(r["inserted_at"]).timestamp() for r in rows}
    latencies = [(stored_at[rid] - sent) * 1000 for rid, sent in summary.published_at.items() if rid in stored_at]
    last = max(stored_at.values()) if stored_at else time.time()
    finished = await _finished_jobs(stack, name)
    return {
        "records": args.records, "workers": args.workers, "rate_asked": args.rate or "max",
        "publish_rate": round(summary.rate, 1),
        "seconds": round(last - started, 3),
        "records_per_second": round(len(stored_at) / (last - started), 1),
        "latency_ms": _percentiles(latencies),
        "lost": len(set(summary.published_at) - set(stored_at)),
        "duplicated": (len(rows) - len(stored_at)) + max(0, finished - args.records),
        "queue": name,
    }


async def broker(args: argparse.Namespace) -> dict[str, Any]:
    """The same publishing, consumed and acknowledged by W consumers doing nothing else."""
    queue = f"bench_broker_{uuid.uuid4().hex[:6]}"
    done = asyncio.Event()
    received = 0

    async def consumer() -> aio_pika.abc.AbstractRobustConnection:
        connection = await aio_pika.connect_robust(AMQP)
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=2 * args.batch_size)
        q, _, _ = await declare_service_queue(channel, queue)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received >= args.records:
                done.set()

        await q.consume(on_message)
        return connection

    connections = [await consumer() for _ in range(args.workers)]
    options = PublishOptions(queue, AMQP, publishers=args.publishers, rows=args.records, loop=True)
    started = time.monotonic()
    await publish_rows(options, _factory(args.records))
    await asyncio.wait_for(done.wait(), timeout=600)
    seconds = time.monotonic() - started
    channel = await connections[0].channel()
    for name in (queue, dead_letter_queue_name(queue)):
        await channel.queue_delete(name)
    await channel.exchange_delete(dead_letter_exchange_name(queue))
    for connection in connections:
        await connection.close()
    return {"seconds": round(seconds, 3), "records_per_second": round(args.records / seconds, 1)}


async def _cleanup(queue: str) -> None:
    async with await aio_pika.connect_robust(AMQP) as connection:
        channel = await connection.channel()
        for name in (queue, dead_letter_queue_name(queue)):
            await channel.queue_delete(name)
        await channel.exchange_delete(dead_letter_exchange_name(queue))


def run(args: argparse.Namespace) -> dict[str, Any]:
    with Stack(StackConfig.throwaway()) as stack:
        result = asyncio.run(pipeline(stack, args))
        asyncio.run(_cleanup(result.pop("queue")))
        httpx.get(f"{stack.qm_url}/health")
    figures: dict[str, Any] = {"pipeline": result}
    if not args.skip_broker:
        figures["broker"] = asyncio.run(broker(args))
        figures["ratio_pipeline_to_broker"] = round(
            result["records_per_second"] / figures["broker"]["records_per_second"], 3)
    return figures
