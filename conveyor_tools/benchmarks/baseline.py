"""One Conveyor worker against a worker written the reference system's way: same stack, model and messages.

On one throwaway stack, a PyCaret pipeline trained here (conveyor.training, on demo rows) is uploaded and assigned
to a service. The reference-style worker (tooling inside this module: it is the baseline, not a platform
component) handles one message at a time, as the reference system does: create a job (POST
/queue_manager/jobs), get the service (GET /queue_manager/services/NAME), PyCaret `predict_model` on one row,
insert one row (POST /ml_data_api/.../production/rows), finish the job (PATCH /queue_manager/jobs/ID), ack. It
runs a pass (--reference-seconds, 30 by default) before and one after one Conveyor worker handles its messages
(the same feature rows, record ids of their own), so that what drifts over the run (the machine's load, the
growing tables) weighs on both sides; the figures are messages/s of each pass with where its time went
(predict_model or the round trips), their mean, Conveyor's and the ratio per worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import time
import uuid
from datetime import datetime
from typing import Any

import aio_pika
import httpx
import pandas as pd

from conveyor.amqp import declare_service_queue
from conveyor.clients import QueueManagerClient
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ServiceCreate
from conveyor.training import dump_model, load_model, train_model
from conveyor_tools import devstack
from conveyor_tools.benchmarks.pipeline import (
    AMQP,
    _cleanup,
    _finished_jobs,
    _positive,
    _rows,
    _start_workers,
    _stored_rows,
)
from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_FEATURES, demo_splits, demo_stream
from conveyor_tools.stack import Stack, StackConfig
from data_source.publisher import PublishOptions, publish_rows
from data_source.records import MessageFactory

log = logging.getLogger("conveyor_tools.benchmarks.baseline")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--messages", type=_positive, default=5000, help="messages the Conveyor worker handles")
    p.add_argument("--reference-messages", type=_positive, default=300,
                   help="messages published for each reference pass (it handles them until --reference-seconds)")
    p.add_argument("--reference-seconds", type=float, default=30.0,
                   help="how long each reference pass runs (it stops earlier once it has handled every message)")
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--batch-wait-ms", type=int, default=20)
    p.add_argument("--training-rows", type=_positive, default=1500, help="demo rows the PyCaret model is trained on")
    p.add_argument("--include", default="lr", help="PyCaret model ids compared when training the model")


def _factory(frame: pd.DataFrame, label: str) -> MessageFactory:
    # The same feature rows for every pass; record ids of its own (production rows are unique per record id).
    return MessageFactory(frame=frame, features=DEMO_FEATURES, run_id=f"{label}-{uuid.uuid4().hex[:6]}")


async def _setup(stack: Stack, name: str, args: argparse.Namespace) -> dict[str, Any]:
    """The dataset, a PyCaret pipeline trained on demo rows and uploaded, and the service it is assigned to."""
    schema = DEMO_DATASET.model_copy(update={"name": name})
    training, testing = demo_splits(rows=args.training_rows)
    include = [i.strip() for i in args.include.split(",")]
    trained = await asyncio.to_thread(train_model, training, testing, schema, include)
    async with QueueManagerClient(stack.qm_url, stack.config.api_token) as qm:
        await qm.ensure_dataset(schema)
        algorithm = await qm.upload_algorithm(name=f"{name}_model", dataset=name, model=dump_model(trained.pipeline),
                                              filename=f"{name}_model.joblib", framework=trained.framework)
        await qm.create_service(ServiceCreate(name=name, dataset=name, queue=name,
                                              algorithm=AlgorithmRef(name=algorithm.name, version=algorithm.version)))
    return {"model": f"PyCaret {trained.model_name} ({trained.model_id}), {trained.framework}",
            "trained_on_rows": len(training), "training_seconds": round(trained.seconds, 1)}


class ReferenceWorker:
    """The reference system's way: per message five round trips and one PyCaret predict_model of one row."""

    def __init__(self, stack: Stack, service: str) -> None:
        self.stack = stack
        self.service = service
        self.http = httpx.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {stack.config.api_token}"})
        self.model: Any = None
        self.predict_seconds: list[float] = []  # where a message's time goes: PyCaret, or the round trips

    async def load_model(self) -> None:
        # As the reference worker does at start: the service's model, downloaded and loaded once.
        async with QueueManagerClient(self.stack.qm_url, self.stack.config.api_token) as qm:
            service = await qm.get_service(self.service)
            if service.algorithm is None:
                raise RuntimeError(f"service {self.service} has no model")
            content = await qm.download_algorithm(service.algorithm.name, service.algorithm.version)
        self.model = load_model(content, f"{service.algorithm.name}.joblib")

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        answer = await self.http.request(method, url, **kwargs)
        answer.raise_for_status()
        return answer.json()

    async def handle(self, body: bytes) -> None:
        from pycaret.regression import predict_model

        message = json.loads(body)
        qm, ml = self.stack.qm_url, self.stack.ml_url
        job = await self._call("POST", f"{qm}/queue_manager/jobs", json={
            "record_id": message["record_id"], "service": self.service, "payload": message, "status": "processing"})
        service = await self._call("GET", f"{qm}/queue_manager/services/{self.service}")
        frame = pd.DataFrame([message["features"]], columns=DEMO_FEATURES)
        clock = time.perf_counter()
        predicted = predict_model(self.model, data=frame, verbose=False)
        self.predict_seconds.append(time.perf_counter() - clock)
        prediction = float(predicted["prediction_label"].iloc[0])
        row = {DEMO_DATASET.timestamp_column: message["timestamp"], **message["features"],
               "record_id": message["record_id"], "prediction": prediction,
               "model_name": service["algorithm"]["name"], "model_version": service["algorithm"]["version"],
               "job_id": job["id"], "service": self.service}
        await self._call("POST", f"{ml}/ml_data_api/datasets/{self.service}/production/rows", json={"rows": [row]})
        await self._call("PATCH", f"{qm}/queue_manager/jobs/{job['id']}", json={
            "status": "finished", "result": prediction})

    async def run_pass(self, frame: pd.DataFrame, count: int, label: str, limit_seconds: float) -> dict[str, Any]:
        """Publish `count` messages to a queue of the pass's own, then consume them one at a time until all are
        done or `limit_seconds` have passed (what is left is deleted with the queue)."""
        queue = f"{self.service}.{label}"
        await publish_rows(PublishOptions(queue, AMQP, rows=count), _factory(frame, label))
        done = 0
        self.predict_seconds = []
        async with await aio_pika.connect_robust(AMQP) as connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=1)
            q, _, _ = await declare_service_queue(channel, queue)
            started = time.monotonic()
            async with q.iterator() as messages:
                async for message in messages:
                    await self.handle(message.body)
                    await message.ack()
                    done += 1
                    if done >= count or time.monotonic() - started >= limit_seconds:
                        break
            seconds = time.monotonic() - started
        await _cleanup(queue)
        predict_ms = 1000 * statistics.mean(self.predict_seconds)
        return {"messages": done, "seconds": round(seconds, 2), "messages_per_second": round(done / seconds, 2),
                "predict_model_ms_mean": round(predict_ms, 1),
                "rest_of_message_ms_mean": round(1000 * seconds / done - predict_ms, 1)}

    async def close(self) -> None:
        await self.http.aclose()


async def conveyor_pass(stack: Stack, name: str, frame: pd.DataFrame, args: argparse.Namespace) -> dict[str, Any]:
    """One Conveyor worker on the service's queue: published as fast as confirmed, timed to the last stored row."""
    rows_before, finished_before = await _stored_rows(stack, name), await _finished_jobs(stack, name)
    workers = _start_workers(stack, name, argparse.Namespace(
        workers=1, batch_size=args.batch_size, batch_wait_ms=args.batch_wait_ms))
    try:
        deadline = time.monotonic() + 180
        while "consuming" not in stack.log_tail(workers[0].name):
            if time.monotonic() > deadline:
                raise TimeoutError("the worker did not start consuming")
            await asyncio.sleep(0.2)
        factory = _factory(frame, "conveyor")
        started = time.time()
        await publish_rows(PublishOptions(name, AMQP, rows=args.messages, publishers=2), factory)
        deadline = time.monotonic() + 600
        while (await _stored_rows(stack, name) < rows_before + args.messages
               or await _finished_jobs(stack, name) < finished_before + args.messages):
            if time.monotonic() > deadline:
                raise TimeoutError("the Conveyor worker did not store every message within 600 s")
            await asyncio.sleep(0.5)
    finally:
        for worker in workers:
            devstack.stop_process(worker.proc)
            stack.components.remove(worker)
    prefix = f"{factory.run_id}-"
    stored = [datetime.fromisoformat(r["inserted_at"]).timestamp() for r in await _rows(stack, name)
              if str(r["record_id"]).startswith(prefix)]
    seconds = max(stored) - started
    return {"messages": args.messages, "stored": len(stored), "seconds": round(seconds, 2),
            "messages_per_second": round(len(stored) / seconds, 1), "batch_size": args.batch_size}


async def measure(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    name = f"baseline_{uuid.uuid4().hex[:6]}"
    model = await _setup(stack, name, args)
    frame = demo_stream(min(max(args.messages, args.reference_messages), 20_000))
    reference = ReferenceWorker(stack, name)
    try:
        await reference.load_model()
        before = await reference.run_pass(frame, args.reference_messages, "reference-before", args.reference_seconds)
        log.info("reference worker before: %s messages/s", before["messages_per_second"])
        conveyor = await conveyor_pass(stack, name, frame, args)
        log.info("Conveyor worker: %s messages/s", conveyor["messages_per_second"])
        after = await reference.run_pass(frame, args.reference_messages, "reference-after", args.reference_seconds)
        log.info("reference worker after: %s messages/s", after["messages_per_second"])
    finally:
        await reference.close()
    await _cleanup(name)
    mean = statistics.mean([before["messages_per_second"], after["messages_per_second"]])
    return {
        **model,
        "reference_before": before, "reference_after": after, "reference_mean_per_second": round(mean, 2),
        "conveyor_worker": conveyor,
        "ratio_per_worker": round(conveyor["messages_per_second"] / mean, 1),
        "ratio_per_worker_vs_before": round(conveyor["messages_per_second"] / before["messages_per_second"], 1),
        "ratio_per_worker_vs_after": round(conveyor["messages_per_second"] / after["messages_per_second"], 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = StackConfig.throwaway()
    config.retraining = False  # the model is trained here, in the benchmark's process
    config.monitoring = False
    with Stack(config) as stack:
        return asyncio.run(measure(stack, args))
