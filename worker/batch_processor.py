"""One batch: validate, predict once per model, record jobs, store rows, finish jobs, then acknowledge.

Every step that talks to another service is one bulk call, retried through passing faults;
the messages are acknowledged only when their rows and jobs are stored, so a crash at any
point means redelivery, and redelivery is harmless (jobs and rows are unique per record, and
split mode sends a record to the same model every time). Prediction comes before the jobs
are recorded so that each job names the model that served it, even when a failing challenger
hands its records to the champion.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage

from conveyor.clients import APIError, APIUnavailable, MLDataClient, QueueManagerClient
from conveyor.retry import Backoff, retry
from conveyor.schemas.datasets import DatasetSchema
from conveyor.schemas.jobs import JobCreate, JobMetadata, JobStatus, JobUpdateItem
from worker.assigned_models import AssignedModels
from worker.challenger import ChallengerHealthTracker
from worker.items import Item
from worker.messages import InvalidMessage, parse, record_id_of
from worker.metrics import WorkerMetrics
from worker.model_store import LoadedModel
from worker.prediction import Predictor
from worker.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
RAW_PAYLOAD_LIMIT = 2000


class BatchProcessor:
    def __init__(
        self, settings: Settings, qm: QueueManagerClient, ml: MLDataClient, schema: DatasetSchema,
        payload_key: str, dead_letters: AbstractExchange, queue: str, metrics: WorkerMetrics, stop: asyncio.Event,
        health: ChallengerHealthTracker,
    ) -> None:
        self.settings = settings
        self.backoff = Backoff(settings.retry_initial_seconds, settings.retry_max_seconds)
        self.qm = qm
        self.ml = ml
        self.schema = schema
        self.payload_key = payload_key
        self.dead_letters = dead_letters
        self.queue = queue
        self.metrics = metrics
        self.stop = stop
        self.health = health
        self.predictor = Predictor(schema, metrics)

    async def _retry(self, step: str, call: Callable[[], Awaitable[T]]) -> T:
        # A 4xx for a whole batch means the platform changed under us (a schema, a service):
        # never drop the batch; keep it, try again slowly and say so loudly.
        return await retry(
            step, call, backoff=self.backoff, stop=self.stop, passing=(APIUnavailable,), refused=(APIError,),
            on_retry=lambda name: self.metrics.retries.labels(name).inc(),
        )

    def _parse(self, message: AbstractIncomingMessage) -> Item:
        item = Item(message)
        try:
            item.record = parse(
                message.body, self.schema, self.payload_key, message_id=message.message_id,
                timestamp=message.timestamp, headers=dict(message.headers or {}),
            )
        except InvalidMessage as exc:
            item.error = str(exc)
        return item

    def _job(self, item: Item, champion: LoadedModel, started: datetime) -> JobCreate:
        metadata = JobMetadata(start=started, routing_key=item.message.routing_key, worker_id=self.settings.worker_id)
        model = item.model or champion  # a message that did not parse is the champion's failed job
        if item.record is None:
            return JobCreate(
                record_id=record_id_of(item.message.body, item.message.message_id), service=self.settings.service_name,
                algorithm_name=model.name, algorithm_version=model.version, algorithm_role=item.role.value,
                payload=item.message.body[:RAW_PAYLOAD_LIMIT].decode("utf-8", errors="replace"),
                status=JobStatus.failed, error=item.error, metadata=metadata,
            )
        metadata.extra = item.record.notes
        return JobCreate(
            record_id=item.record.record_id, service=self.settings.service_name, algorithm_name=model.name,
            algorithm_version=model.version, algorithm_role=item.role.value, payload=item.record.payload,
            status=JobStatus.processing, metadata=metadata,
        )

    def _row(self, item: Item) -> dict[str, Any]:
        record = item.parsed
        model = item.model
        if model is None:
            raise RuntimeError(f"record {record.record_id} has no prediction")
        row = {
            self.schema.timestamp_column: record.timestamp.isoformat(),
            **record.features,
            "record_id": record.record_id, "prediction": item.prediction,
            "model_name": model.name, "model_version": model.version, "model_role": item.role.value,
            "job_id": item.job_id, "service": self.settings.service_name,
        }
        if item.shadow_model is not None:
            row |= {"shadow_prediction": item.shadow, "shadow_model_name": item.shadow_model.name,
                    "shadow_model_version": item.shadow_model.version}
        return row

    async def _dead_letter(self, item: Item) -> None:
        message = item.message
        headers = {**(message.headers or {}), "x-death-reason": item.error or "",
                   "x-conveyor-worker": self.settings.worker_id, "x-conveyor-service": self.settings.service_name}
        await self.dead_letters.publish(
            aio_pika.Message(
                message.body, headers=headers, message_id=message.message_id, timestamp=message.timestamp,
                content_type=message.content_type, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=self.queue,
        )
        self.metrics.dead_lettered.inc()

    async def _predict(self, models: AssignedModels, items: list[Item]) -> None:
        parsed = [i for i in items if i.record is not None]
        if not parsed:
            return
        run = await asyncio.to_thread(self.predictor.predict, models, parsed)
        if run is not None:  # on the loop: the health report is a task of its own
            if run.error is None:
                self.health.succeeded(run.challenger)
            else:
                self.health.failed("predict", run.challenger, run.error)

    async def process(self, messages: list[AbstractIncomingMessage], models: AssignedModels) -> None:
        started_at = datetime.now(UTC)
        clock = time.perf_counter()
        self.metrics.batch_size.observe(len(messages))
        items = [self._parse(m) for m in messages]
        await self._predict(models, items)
        jobs = [self._job(i, models.champion, started_at) for i in items]
        created = await self._retry("create jobs", lambda: self.qm.create_jobs(jobs))
        for item, job in zip(items, created.jobs, strict=True):
            item.job_id = job.id
            if job.existing and job.status in (JobStatus.finished, JobStatus.failed):
                item.skip = True
                # A crash may have come between failing the job and dead-lettering the
                # message: dead-letter it again rather than risk never doing it.
                if job.status is JobStatus.failed:
                    item.error = item.error or job.error or "failed on an earlier delivery"
        todo = [i for i in items if i.record is not None and not i.skip]
        stored = [i for i in todo if i.error is None]
        if stored:
            rows = [self._row(i) for i in stored]
            await self._retry("store predictions", lambda: self.ml.insert_rows(self.schema.name, "production", rows))
        ended = datetime.now(UTC)
        elapsed = (ended - started_at).total_seconds()
        updates = [
            JobUpdateItem(id=i.job_id, status=JobStatus.finished if i.error is None else JobStatus.failed,
                          result=i.prediction, error=i.error,
                          metadata=JobMetadata(end=ended, elapsed=elapsed))
            for i in todo
        ]
        if updates:
            await self._retry("finish jobs", lambda: self.qm.update_jobs(updates))
        for item in items:
            if item.error is not None:
                await self._dead_letter(item)
        now = time.time()
        for item in items:
            await item.message.ack()
            outcome = "failed" if item.error else ("duplicate" if item.skip else "finished")
            self.metrics.messages.labels(outcome).inc()
            if outcome == "finished" and item.record and item.record.published_at:
                self.metrics.end_to_end.observe(max(0.0, now - item.record.published_at))
        self.metrics.batch_seconds.observe(time.perf_counter() - clock)
