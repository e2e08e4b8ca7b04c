"""The composition root of a worker: one process, one service, many replicas per queue."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from contextlib import suppress

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from conveyor.amqp import declare_service_queue
from conveyor.clients import APIError, APIUnavailable, MLDataClient, QueueManagerClient
from conveyor.schemas.datasets import DatasetSchema
from conveyor.schemas.services import Service
from worker.assignment import AssignmentWatcher
from worker.batch_processor import BatchProcessor
from worker.metrics import WorkerMetrics
from worker.model_store import LoadedModel, ModelStore
from worker.retry import Stopping
from worker.settings import Settings

log = logging.getLogger("worker")


class Worker:
    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.qm = QueueManagerClient(settings.queue_manager_url, settings.api_token, timeout=30)
        self.ml = MLDataClient(settings.ml_data_api_url, settings.api_token, timeout=60)
        self.models = ModelStore(self.qm, settings.model_cache_dir)
        self.metrics = WorkerMetrics()
        self.stop = asyncio.Event()
        self.inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self.model: LoadedModel | None = None
        self.next_model: LoadedModel | None = None
        self._loading: asyncio.Task[None] | None = None

    async def _until_ready(self) -> tuple[Service, DatasetSchema]:
        """The service and its dataset; waits through outages and for a first assignment."""
        delay = 1.0
        while not self.stop.is_set():
            try:
                service = await self.qm.get_service(self.s.service_name)
                dataset = await self.qm.get_dataset(service.dataset)
                if service.algorithm is not None:
                    return service, dataset.to_schema()
                log.info("service %s has no model assigned yet; waiting", service.name)
            except APIUnavailable as exc:
                log.warning("queue_manager unreachable: %s", exc)
            except APIError as exc:
                log.warning("service %s not usable yet: %s", self.s.service_name, exc.detail)
            with suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=delay)
            delay = min(delay * 2, 10)
        raise Stopping("stopped before start")

    def _use(self, model: LoadedModel) -> None:
        if self.model is not None:
            self.metrics.model_version.labels(self.model.name).set(0)
        self.model = model
        self.metrics.model_version.labels(model.name).set(model.version)
        log.info("predicting with %s v%s", model.name, model.version)

    async def _on_assignment(self, service: Service) -> None:
        if service.algorithm is None:
            log.warning("service %s lost its model; keeping %s v%s", service.name,
                        self.model.name if self.model else None, self.model.version if self.model else None)
            return

        async def load() -> None:
            try:
                # Loaded beside the old model; the swap happens between batches.
                self.next_model = await self.models.load(service.algorithm)  # type: ignore[arg-type]
            except Exception as exc:
                log.error("could not load %s: %s; keeping the current model", service.algorithm, exc)

        if self._loading and not self._loading.done():
            await self._loading
        self._loading = asyncio.create_task(load())

    async def _next_batch(self) -> list[AbstractIncomingMessage]:
        first = await self.inbox.get()
        batch = [first]
        deadline = time.monotonic() + self.s.batch_wait_ms / 1000
        while len(batch) < self.s.batch_size:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.inbox.get(), timeout))
            except TimeoutError:
                break
        while len(batch) < self.s.batch_size and not self.inbox.empty():
            batch.append(self.inbox.get_nowait())
        return batch

    async def run(self) -> None:
        port = self.metrics.serve(self.s.metrics_port)
        log.info("worker %s for service %s; metrics on :%d", self.s.worker_id, self.s.service_name, port)
        service, schema = await self._until_ready()
        self._use(await self.models.load(service.algorithm))  # type: ignore[arg-type]
        connection = await aio_pika.connect_robust(self.s.amqp_url)
        try:
            channel = await connection.channel(publisher_confirms=True)
            await channel.set_qos(prefetch_count=self.s.prefetch)
            queue, dead_letters, _ = await declare_service_queue(channel, service.queue)
            watcher = AssignmentWatcher(self.qm, service, self._on_assignment, self.s.version_check_seconds)
            await watcher.start(await connection.channel(), self.s.events_exchange)
            processor = BatchProcessor(self.s, self.qm, self.ml, schema, service.payload_key, dead_letters,
                                       service.queue, self.metrics, self.stop)
            tag = await queue.consume(self.inbox.put)
            log.info("consuming %s (batch %d, wait %d ms, prefetch %d)", service.queue, self.s.batch_size,
                     self.s.batch_wait_ms, self.s.prefetch)
            await self._loop(processor)
            await queue.cancel(tag)
            await watcher.close()
        finally:
            # Unacknowledged messages go back to the queue when the channel closes.
            await connection.close()
            await self.qm.aclose()
            await self.ml.aclose()

    async def _loop(self, processor: BatchProcessor) -> None:
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
                self._use(self.next_model)
                self.next_model = None
            try:
                # The batch in hand is finished even when a stop arrives meanwhile.
                await processor.process(getting.result(), self.model)  # type: ignore[arg-type]
            except Stopping:
                log.info("stopped during a retry; the batch returns to the queue")
                break


def main(settings: Settings) -> None:
    worker = Worker(settings)

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop.set)
        with suppress(Stopping):
            await worker.run()
        log.info("worker stopped")

    asyncio.run(runner())
