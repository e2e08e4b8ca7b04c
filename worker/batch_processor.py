"""One batch: validate, predict once per model, store rows, write the jobs once, then acknowledge.

Two calls to the stores per batch, each one bulk call retried through passing faults: the production rows to
ml_data_api, then every job of the batch to queue_manager in its final state with its whole history (received,
predicted, stored, finished; or received, failed). The messages are acknowledged only when both are stored, so
a crash at any point means redelivery, and redelivery is harmless: a job's id is derived from its record
(conveyor.job_ids), rows are unique per record_id and jobs per record, the first write of each wins, and split
mode sends a record to the same model every time. A record whose row or job an earlier delivery stored is a
duplicate. Prediction comes first so that each job names the model that served it, even when a failing
challenger hands its records to the champion. A batch's jobs and acknowledgements run while the next batch is
predicted and its rows stored (`process`): ml_data_api and queue_manager busy at once, one acknowledgement frame
per batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage
from aiormq.exceptions import ChannelInvalidStateError

from conveyor.clients import APIError, APIUnavailable, MLDataClient, QueueManagerClient
from conveyor.job_ids import job_id_for
from conveyor.retry import Backoff, Stopping, retry
from conveyor.schemas.datasets import DatasetSchema
from conveyor.schemas.jobs import CompletedStep, JobCompleted, JobMetadata, JobStatus, JobStep
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
        self._finishing: asyncio.Task[None] | None = None  # the last batch's jobs and acknowledgements

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
        item.record_id = item.record.record_id if item.record else record_id_of(message.body, message.message_id)
        item.job_id = job_id_for(self.settings.service_name, item.record_id)
        return item

    def _completed(self, item: Item, champion: LoadedModel, steps: dict[JobStep, CompletedStep]) -> JobCompleted:
        """The item's job in its final state; `steps` holds when the batch was received, predicted, stored and
        failed or finished (one object per step for the whole batch: validating 4 times per job cost more than
        the rest of the job)."""
        received, finished = steps[JobStep.received].at, steps[JobStep.finished].at
        metadata = JobMetadata(start=received, end=finished, elapsed=(finished - received).total_seconds(),
                               routing_key=item.message.routing_key, worker_id=self.settings.worker_id)
        model = item.model or champion  # a message that did not parse is the champion's failed job
        if item.error is not None:
            payload = (item.record.payload if item.record is not None
                       else item.message.body[:RAW_PAYLOAD_LIMIT].decode("utf-8", errors="replace"))
            status, history = JobStatus.failed, [JobStep.received, JobStep.failed]
        else:
            payload = item.parsed.payload
            metadata.extra = dict(item.parsed.notes)
            status, history = JobStatus.finished, [JobStep.received, JobStep.predicted, JobStep.stored,
                                                   JobStep.finished]
            if item.stored_before:
                # Honest about this delivery: it predicted, but the row kept is one an earlier delivery stored.
                history.remove(JobStep.stored)
                metadata.extra["row_stored_before"] = True
        return JobCompleted(
            id=item.job_id, record_id=item.record_id, service=self.settings.service_name,
            algorithm_name=model.name, algorithm_version=model.version, algorithm_role=item.role.value,
            payload=payload, status=status, result=item.prediction if item.error is None else None,
            error=item.error, metadata=metadata,
            history=[steps[step] for step in history],
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
        """Predict and store the batch's rows now; its jobs, dead letters and acknowledgements follow in the
        background, once the previous batch's are done.

        So one batch's jobs are written to queue_manager while the next batch's rows go to ml_data_api: two stores
        busy at once instead of one after the other. Each batch still writes its rows before its jobs and is
        acknowledged only once both are stored, and jobs are written in batch order, so a record repeated in the
        next batch finds the job of this one. What the previous batch's background step raised (Stopping, a lost
        channel) is raised here, after this batch's own background step is started: its messages may have come
        on a channel restored since, and are finished either way. Except after Stopping: the previous batch's
        jobs were then not written, and this batch's acknowledgement (`multiple`) would cover its messages too; so
        this batch is left unacknowledged as well, and both come again from the broker once the worker is gone."""
        stored = await self._store(messages, models)
        try:
            await self.settle()
        except Stopping:
            raise
        except BaseException:
            self._finishing = asyncio.create_task(self._finish(stored))
            raise
        self._finishing = asyncio.create_task(self._finish(stored))

    async def settle(self) -> None:
        """Wait for the last batch's jobs, dead letters and acknowledgements; raise what they raised."""
        task, self._finishing = self._finishing, None
        if task is not None:
            await task

    async def _store(self, messages: list[AbstractIncomingMessage], models: AssignedModels) -> StoredBatch:
        batch = StoredBatch(messages, models, {JobStep.received: datetime.now(UTC)}, time.perf_counter())
        steps = batch.steps
        self.metrics.batch_size.observe(len(messages))
        items = batch.items = [self._parse(m) for m in messages]
        await self._predict(models, items)
        steps[JobStep.predicted] = datetime.now(UTC)
        predicted = [i for i in items if i.record is not None and i.error is None]
        if predicted:
            rows = [self._row(i) for i in predicted]
            stored = await self._retry(
                "store predictions", lambda: self.ml.insert_rows(self.schema.name, "production", rows))
            before = set(stored.duplicate_record_ids)
            for item in predicted:
                item.stored_before = item.record_id in before
                item.skip = item.stored_before
        steps[JobStep.stored] = steps[JobStep.finished] = steps[JobStep.failed] = datetime.now(UTC)
        return batch

    async def _finish(self, batch: StoredBatch) -> None:
        items = batch.items
        history = {step: CompletedStep(status=step, at=at) for step, at in batch.steps.items()}
        jobs = [self._completed(i, batch.models.champion, history) for i in items]
        written = await self._retry("write jobs", lambda: self.qm.complete_jobs(jobs))
        for item, job in zip(items, written.jobs, strict=True):
            if job.existing:
                # Its job was written before (a redelivery, or a repeat within the batch): that one stands.
                item.skip = True
        for item in items:
            # A malformed message is dead-lettered on every delivery: a crash may have come between writing
            # its failed job and dead-lettering it, and a second dead letter beats none.
            if item.error is not None:
                await self._dead_letter(item)
        await _acknowledge(batch.messages)
        now = time.time()
        for item in items:
            outcome = "failed" if item.error else ("duplicate" if item.skip else "finished")
            self.metrics.messages.labels(outcome).inc()
            if outcome == "finished" and item.record and item.record.published_at:
                self.metrics.end_to_end.observe(max(0.0, now - item.record.published_at))
        self.metrics.batch_seconds.observe(time.perf_counter() - batch.clock)


@dataclass
class StoredBatch:
    """A batch whose rows are stored: what its jobs and acknowledgements need."""

    messages: list[AbstractIncomingMessage]
    models: AssignedModels
    steps: dict[JobStep, datetime]  # when it was received, predicted, stored (and so finished or failed)
    clock: float  # perf_counter when it was received
    items: list[Item] = field(default_factory=list)


async def _acknowledge(messages: list[AbstractIncomingMessage]) -> None:
    """One acknowledgement per channel for the whole batch: its last delivery, with `multiple`.

    Batches are taken from the inbox in delivery order and acknowledged one after the other, so on a channel every
    delivery up to a batch's last one is that batch's or an earlier, acknowledged one: one frame instead of one per
    message, for the broker as for the worker. A batch may hold messages of a channel lost meanwhile (they come
    again: raised once the others are acknowledged) and of the one restored since (acknowledged on it)."""
    last: dict[int, AbstractIncomingMessage] = {}
    lost: ChannelInvalidStateError | None = None
    for message in messages:
        try:
            key = id(message.channel)  # raises once the channel is closed
        except ChannelInvalidStateError as exc:
            lost = exc
            continue
        if key not in last or (message.delivery_tag or 0) > (last[key].delivery_tag or 0):
            last[key] = message
    for message in last.values():
        await message.ack(multiple=True)
    if lost is not None:
        raise lost
