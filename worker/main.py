"""The composition root of a worker: one process, one service, many replicas per queue."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress

from aio_pika.abc import AbstractIncomingMessage
from aiormq.exceptions import ChannelInvalidStateError

from conveyor.amqp import (
    BROKER_FAULTS,
    CHANNEL_LOST,
    connect_through_faults,
    declare_events_exchange,
    declare_service_queue,
    open_channel,
    through_broker_faults,
)
from conveyor.clients import APIError, APIUnavailable, MLDataClient, QueueManagerClient
from conveyor.retry import Backoff, Stopping, retry
from conveyor.schemas.datasets import DatasetSchema
from conveyor.schemas.services import Service
from conveyor.signals import stop_on_signals
from worker.assigned_models import AssignedModels, ModelsLoader
from worker.assignment import AssignmentWatcher
from worker.batch_processor import BatchProcessor
from worker.challenger import ChallengerHealthTracker
from worker.champion import ChampionHealthTracker
from worker.events import WorkerEvents
from worker.metrics import WorkerMetrics
from worker.model_store import ModelStore
from worker.settings import Settings

log = logging.getLogger("worker")


class NoModelYet(Exception):
    """The service exists but no model is assigned to it yet."""


class Worker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.qm = QueueManagerClient(settings.queue_manager_url, settings.api_token, timeout=30)
        self.ml = MLDataClient(settings.ml_data_api_url, settings.api_token, timeout=60)
        self.metrics = WorkerMetrics(settings.service_name, settings.worker_id)
        self.stop = asyncio.Event()
        self.events = WorkerEvents(settings.service_name, settings.worker_id)
        tracking = (self.qm, settings.service_name, settings.worker_id, self.metrics, self.stop,
                    Backoff(settings.retry_initial_seconds, settings.retry_max_seconds), self.events)
        self.health = ChallengerHealthTracker(*tracking)
        self.champion_health = ChampionHealthTracker(*tracking)
        self.loader = ModelsLoader(ModelStore(self.qm, settings.model_cache_dir), self.champion_health, self.health)
        self.inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self.service: Service | None = None  # as last learnt: a model that failed to load is retried from it
        self.models: AssignedModels | None = None
        self.next_models: AssignedModels | None = None
        self._loading: asyncio.Task[None] | None = None
        self._busy = False  # a batch is being predicted and stored: a swap waits for its end
        self._assigned = asyncio.Event()  # set on each assignment change: a worker with no model tries it at once

    async def _until_ready(self) -> tuple[Service, DatasetSchema]:
        """The service (with a model assigned) and its dataset; waits through outages and for a first assignment."""

        async def ready() -> tuple[Service, DatasetSchema]:
            service = await self.qm.get_service(self.settings.service_name)
            dataset = await self.qm.get_dataset(service.dataset)
            if service.algorithm is None:
                raise NoModelYet(f"service {service.name} has no model assigned yet")
            return service, dataset.to_schema()

        # At start-up a missing service (a 4xx) is as passing as an outage: it may be created soon.
        return await retry(f"getting service {self.settings.service_name} ready", ready,
                           backoff=Backoff(1.0, 10.0), stop=self.stop, passing=(APIUnavailable, APIError, NoModelYet))

    def _use(self, models: AssignedModels) -> AssignedModels:
        old = self.models
        if old is None or old.champion is not models.champion:
            if old is not None:
                self.metrics.model_version.labels(old.champion.name).set(0)
            self.metrics.model_version.labels(models.champion.name).set(models.champion.version)
            log.info("predicting with %s v%s", models.champion.name, models.champion.version)
        if old is not None and old.challenger is not None and old.challenger is not models.challenger:
            self.metrics.challenger_version.labels(old.challenger.name).set(0)
        if models.challenger is not None:
            self.metrics.challenger_version.labels(models.challenger.name).set(models.challenger.version)
        if old is None or (old.wanted, old.challenger, old.mode, old.share) != (
                models.wanted, models.challenger, models.mode, models.share):
            log.info("%s", models.describe())
        self.models = models
        return models

    def _reload(self, service: Service) -> None:
        """Load the service's models beside the ones in use; the swap happens between batches."""

        async def load() -> None:
            try:
                loaded = await self.loader.load(service, self.next_models or self.models)
                if loaded is None:
                    return  # no champion loads and none was held: nothing changes, the queue waits
                if self._busy:
                    self.next_models = loaded
                else:  # idle: swap at once, so the log and metrics say what the next record meets
                    self.next_models = None
                    self._use(loaded)
            except Exception as exc:
                log.error("could not load the models of revision %d: %s; keeping the current ones",
                          service.assignment_revision, exc)

        self._loading = asyncio.create_task(load())

    async def _on_assignment(self, service: Service) -> None:
        if self._loading and not self._loading.done():
            await self._loading
        self.service = service
        self._reload(service)
        self._assigned.set()

    def _retry_failed(self) -> None:
        """A model that failed to load is tried again now and then (between batches, in the background)."""
        current = self.next_models or self.models
        if (self.service is not None and current is not None and (self._loading is None or self._loading.done())
                and current.retry_due(self.settings.model_retry_seconds)):
            log.info("loading the models of service %s again (one failed to load)", self.service.name)
            self._reload(self.service)

    async def _pause(self, seconds: float) -> None:
        """Until the next assignment, a stop, or `seconds`."""
        waits = {asyncio.create_task(self.stop.wait()), asyncio.create_task(self._assigned.wait())}
        _, pending = await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _until_a_model(self, queue: str) -> bool:
        """Load a champion; False when stopped before one loads.

        Meanwhile nothing consumes the queue, so its messages wait untouched (no job, no dead letter, no
        redelivery count); loading is tried again on the next assignment or after WORKER_MODEL_RETRY_SECONDS."""
        if self.service is None:
            raise RuntimeError("the service is learnt before the models")
        self._reload(self.service)
        told = False
        while not self.stop.is_set():
            loading = self._loading
            if loading is None:
                raise RuntimeError("_reload starts a load")
            await loading
            if self.models is not None:
                return True
            if self._loading is not loading:
                continue  # an assignment came meanwhile: its load is under way
            if not told:
                log.warning("service %s: no model to predict with; the messages stay in queue %s; loading again on "
                            "the next assignment or in %g s", self.service.name, queue,
                            self.settings.model_retry_seconds)
                told = True
            self._assigned.clear()
            await self._pause(self.settings.model_retry_seconds)
            if self._loading is loading and not self.stop.is_set():
                self._reload(self.service)  # the wait ran out with no new assignment: the same models again
        return False

    async def _next_batch(self) -> list[AbstractIncomingMessage]:
        first = await self.inbox.get()
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
        while len(batch) < self.settings.batch_size:
            # What is waiting is taken at once: a wait (a task and a timer) only when the inbox is empty.
            while len(batch) < self.settings.batch_size and not self.inbox.empty():
                batch.append(self.inbox.get_nowait())
            timeout = deadline - time.monotonic()
            if len(batch) >= self.settings.batch_size or timeout <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.inbox.get(), timeout))
            except TimeoutError:
                break
        return batch

    async def run(self) -> None:
        port = self.metrics.serve(self.settings.metrics_port)
        log.info("worker %s for service %s; metrics on :%d", self.settings.worker_id, self.settings.service_name, port)
        service, schema = await self._until_ready()
        self.service = service
        # Every broker step of the start is tried again through broker faults: a broker down or stopping while a
        # worker starts delays it (found by `conveyor bench faults`: a consume on a channel not yet restored).
        stop = self.stop
        connection = await connect_through_faults(self.settings.amqp_url, stop=stop)
        try:
            channel = await open_channel(connection, stop=stop)
            await through_broker_faults("setting the prefetch",
                                        lambda: channel.set_qos(prefetch_count=self.settings.prefetch), stop=stop)
            queue, dead_letters, _ = await through_broker_faults(
                f"declaring queue {service.queue}", lambda: declare_service_queue(channel, service.queue), stop=stop)
            events_channel = await open_channel(connection, stop=stop)
            self.events.attach(await through_broker_faults(
                "declaring the events exchange",
                lambda: declare_events_exchange(events_channel, self.settings.events_exchange), stop=stop))
            watcher = AssignmentWatcher(self.qm, service, self._on_assignment, self.settings.version_check_seconds)
            await watcher.start(events_channel, self.settings.events_exchange, stop=stop)
            try:
                # No consumer until a champion loads: a bad model never takes a message out of the queue.
                if await self._until_a_model(service.queue):
                    processor = BatchProcessor(self.settings, self.qm, self.ml, schema, service.payload_key,
                                               dead_letters, service.queue, self.metrics, self.stop, self.health)
                    tag = await through_broker_faults(f"consuming {service.queue}",
                                                      lambda: queue.consume(self.inbox.put), stop=stop)
                    log.info("consuming %s (batch %d, wait %d ms, prefetch %d)", service.queue,
                             self.settings.batch_size, self.settings.batch_wait_ms, self.settings.prefetch)
                    await self._loop(processor)
                    with suppress(*BROKER_FAULTS):  # a broker gone by then has cancelled it: nothing is lost
                        await queue.cancel(tag)
            finally:
                await watcher.close()
        finally:
            await self.health.close()
            await self.champion_health.close()
            await self.events.close()
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
            self._busy = True
            if self.next_models is not None:
                self._use(self.next_models)
                self.next_models = None
            self._retry_failed()
            models = self.models
            if models is None:
                raise RuntimeError("no models loaded")  # run() loads them before the loop starts
            try:
                # The batch in hand is finished even when a stop arrives meanwhile (its jobs and acknowledgements
                # in the background, while the next batch is stored: settled below).
                await processor.process(getting.result(), models)
            except Stopping:
                log.info("stopped during a retry; the batch returns to the queue")
                break
            except CHANNEL_LOST as exc:
                self._channel_lost(exc)
            finally:
                self._busy = False
                # Models loaded while the batch ran are swapped in now, between batches: waiting for the next
                # batch would leave an idle queue on the old ones (and the log saying so) until a record came.
                if self.next_models is not None:
                    self._use(self.next_models)
                    self.next_models = None
        try:
            await processor.settle()
        except Stopping:
            log.info("stopped during a retry; the last batch returns to the queue")
        except CHANNEL_LOST as exc:
            self._channel_lost(exc)

    def _channel_lost(self, exc: BaseException) -> None:
        # The broker closed the channel under a batch (a restart, a stop_app): its messages, and those waiting in
        # the inbox, are unacknowledged on a dead channel, so the broker delivers them again once the robust
        # connection has restored the consumer; redelivery is harmless. Carry on.
        dropped = self._drop_inbox()
        self.metrics.retries.labels("broker").inc()
        log.warning("the broker closed the channel during a batch (%s: %s): its messages and %d waiting will be "
                    "delivered again", type(exc).__name__, exc, dropped)

    def _drop_inbox(self) -> int:
        """Drop the waiting messages of a closed channel; those of the channel restored since stay, in order."""
        dropped = 0
        kept: list[AbstractIncomingMessage] = []
        while not self.inbox.empty():
            message = self.inbox.get_nowait()
            try:
                message.channel  # noqa: B018 - raises once its channel is closed
            except ChannelInvalidStateError:
                dropped += 1
                continue
            kept.append(message)
        for message in kept:
            self.inbox.put_nowait(message)
        return dropped


def main(settings: Settings) -> None:
    worker = Worker(settings)

    async def runner() -> None:
        stop_on_signals(worker.stop)
        with suppress(Stopping):
            await worker.run()
        log.info("worker stopped")

    asyncio.run(runner())
