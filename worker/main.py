"""The composition root of a worker: one process, one service, many replicas per queue."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from conveyor.amqp import declare_service_queue
from conveyor.clients import APIError, APIUnavailable, MLDataClient, QueueManagerClient
from conveyor.retry import Backoff, Stopping, retry
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.datasets import DatasetSchema
from conveyor.schemas.services import Service
from conveyor.signals import stop_on_signals
from worker.assignment import AssignmentWatcher
from worker.batch_processor import BatchProcessor
from worker.metrics import WorkerMetrics
from worker.model_store import LoadedModel, ModelStore
from worker.settings import Settings

log = logging.getLogger("worker")


class NoModelYet(Exception):
    """The service exists but no model is assigned to it yet."""


class Worker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.qm = QueueManagerClient(settings.queue_manager_url, settings.api_token, timeout=30)
        self.ml = MLDataClient(settings.ml_data_api_url, settings.api_token, timeout=60)
        self.models = ModelStore(self.qm, settings.model_cache_dir)
        self.metrics = WorkerMetrics()
        self.stop = asyncio.Event()
        self.inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self.model: LoadedModel | None = None
        self.next_model: LoadedModel | None = None
        self._loading: asyncio.Task[None] | None = None

    async def _until_ready(self) -> tuple[Service, AlgorithmRef, DatasetSchema]:
        """The service, its first model and its dataset; waits through outages and for a first assignment."""

        async def ready() -> tuple[Service, AlgorithmRef, DatasetSchema]:
            service = await self.qm.get_service(self.settings.service_name)
            dataset = await self.qm.get_dataset(service.dataset)
            if service.algorithm is None:
                raise NoModelYet(f"service {service.name} has no model assigned yet")
            return service, service.algorithm, dataset.to_schema()

        # At start-up a missing service (a 4xx) is as passing as an outage: it may be created soon.
        return await retry(f"getting service {self.settings.service_name} ready", ready,
                           backoff=Backoff(1.0, 10.0), stop=self.stop, passing=(APIUnavailable, APIError, NoModelYet))

    def _use(self, model: LoadedModel) -> LoadedModel:
        if self.model is not None:
            self.metrics.model_version.labels(self.model.name).set(0)
        self.model = model
        self.metrics.model_version.labels(model.name).set(model.version)
        log.info("predicting with %s v%s", model.name, model.version)
        return model

    async def _on_assignment(self, service: Service) -> None:
        algorithm = service.algorithm
        if algorithm is None:
            log.warning("service %s lost its model; keeping %s v%s", service.name,
                        self.model.name if self.model else None, self.model.version if self.model else None)
            return

        async def load() -> None:
            try:
                # Loaded beside the old model; the swap happens between batches.
                self.next_model = await self.models.load(algorithm)
            except Exception as exc:
                log.error("could not load %s: %s; keeping the current model", algorithm, exc)

        if self._loading and not self._loading.done():
            await self._loading
        self._loading = asyncio.create_task(load())

    async def _next_batch(self) -> list[AbstractIncomingMessage]:
        first = await self.inbox.get()
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
        while len(batch) < self.settings.batch_size:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.inbox.get(), timeout))
            except TimeoutError:
                break
        while len(batch) < self.settings.batch_size and not self.inbox.empty():
            batch.append(self.inbox.get_nowait())
        return batch

    async def run(self) -> None:
        port = self.metrics.serve(self.settings.metrics_port)
        log.info("worker %s for service %s; metrics on :%d", self.settings.worker_id, self.settings.service_name, port)
        service, algorithm, schema = await self._until_ready()
        model = self._use(await self.models.load(algorithm))
        connection = await aio_pika.connect_robust(self.settings.amqp_url)
        try:
            channel = await connection.channel(publisher_confirms=True)
            await channel.set_qos(prefetch_count=self.settings.prefetch)
            queue, dead_letters, _ = await declare_service_queue(channel, service.queue)
            watcher = AssignmentWatcher(self.qm, service, self._on_assignment, self.settings.version_check_seconds)
            await watcher.start(await connection.channel(), self.settings.events_exchange)
            processor = BatchProcessor(self.settings, self.qm, self.ml, schema, service.payload_key, dead_letters,
                                       service.queue, self.metrics, self.stop)
            tag = await queue.consume(self.inbox.put)
            log.info("consuming %s (batch %d, wait %d ms, prefetch %d)", service.queue, self.settings.batch_size,
                     self.settings.batch_wait_ms, self.settings.prefetch)
            await self._loop(processor, model)
            await queue.cancel(tag)
            await watcher.close()
        finally:
            # Unacknowledged messages go back to the queue when the channel closes.
            await connection.close()
            await self.qm.aclose()
            await self.ml.aclose()

    async def _loop(self, processor: BatchProcessor, model: LoadedModel) -> None:
        stopped = asyncio.create_task(self.stop.wait())
        while not self.stop.is_set():
            getting = asyncio.create_task(self._next_batch())
            await asyncio.wait({getting, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not getting.done():
                getting.cancel()
                with suppress(asyncio.CancelledError):
                    await getting
                break
            if self.next_model is not None:
                model = self._use(self.next_model)
                self.next_model = None
            try:
                # The batch in hand is finished even when a stop arrives meanwhile.
                await processor.process(getting.result(), model)
            except Stopping:
                log.info("stopped during a retry; the batch returns to the queue")
                break


def main(settings: Settings) -> None:
    worker = Worker(settings)

    async def runner() -> None:
        stop_on_signals(worker.stop)
        with suppress(Stopping):
            await worker.run()
        log.info("worker stopped")

    asyncio.run(runner())
