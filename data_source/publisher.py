"""The publishing engine: confirmed, persistent, paced; nothing unconfirmed counts as sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractChannel

from conveyor.amqp import (
    BROKER_FAULTS,
    connect_through_faults,
    declare_service_queue,
    open_channel,
    through_broker_faults,
)
from conveyor.retry import Backoff, Stopping, retry
from data_source.records import MessageFactory

UNCONFIRMED_BACKOFF = Backoff(initial=0.4, maximum=5.0)


@dataclass
class PublishSummary:
    published: int = 0
    confirmed: int = 0
    retried: int = 0
    malformed: int = 0
    elapsed: float = 0.0
    published_at: dict[str, float] = field(default_factory=dict, repr=False)

    @property
    def rate(self) -> float:
        return self.confirmed / self.elapsed if self.elapsed > 0 else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {"published": self.published, "confirmed": self.confirmed, "retried": self.retried,
                "malformed": self.malformed, "elapsed_seconds": round(self.elapsed, 3),
                "rate_per_second": round(self.rate, 1)}


@dataclass
class PublishOptions:
    queue: str
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    rate: float = 0.0  # records per second; 0 means as fast as the broker confirms
    publishers: int = 1
    rows: int | None = None  # stop after this many; None: the file once, or forever with loop
    loop: bool = False
    window: int = 256  # unconfirmed messages in flight per publisher
    keep_published_at: bool = False


class Publisher:
    def __init__(self, options: PublishOptions, factory: MessageFactory, stop: asyncio.Event | None = None,
                 progress: Callable[[PublishSummary], None] | None = None) -> None:
        self.options = options
        self.factory = factory
        self.stop = stop or asyncio.Event()
        self.progress = progress
        self.summary = PublishSummary()
        self._next = 0
        self._start = 0.0
        if options.rows is not None:
            self.total: int | None = options.rows
        elif options.loop:
            self.total = None
        else:
            self.total = len(factory.frame)

    def _take(self) -> int | None:
        if self.stop.is_set() or (self.total is not None and self._next >= self.total):
            return None
        index = self._next
        self._next += 1
        return index

    async def _send(self, channel: AbstractChannel, index: int) -> None:
        elapsed = time.monotonic() - self._start
        record_id, body, kind = self.factory.build(index, elapsed)

        async def publish() -> float:
            published_at = time.time()
            message = aio_pika.Message(
                body, message_id=record_id, content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT, timestamp=datetime.now(UTC),
                # A string: AMQP tables carry a Python float as a 32-bit float (pamqp), ±64 s off at today's epoch.
                headers={"x-published-at": repr(published_at)},
            )
            await channel.default_exchange.publish(message, routing_key=self.options.queue, timeout=30)
            return published_at

        def count_retry(_: str) -> None:
            self.summary.retried += 1

        # Not confirmed: publish again once the robust connection is back. A stop does not end
        # these waits: a record taken is sent, so that the summary counts only confirmed ones.
        published_at = await retry(f"publishing record {record_id}", publish, backoff=UNCONFIRMED_BACKOFF,
                                   passing=BROKER_FAULTS,
                                   on_retry=count_retry)
        self.summary.confirmed += 1
        if kind:
            self.summary.malformed += 1
        if self.options.keep_published_at:
            self.summary.published_at[record_id] = published_at

    async def _publisher(self, connection: aio_pika.abc.AbstractRobustConnection) -> None:
        # A record the broker returns unrouted (its queue missing or not yet back after a broker restart) was
        # dropped, not stored: it raises, and is sent again like one whose confirm was lost.
        channel = await open_channel(connection, on_return_raises=True)
        pending: set[asyncio.Task[None]] = set()
        while (index := self._take()) is not None:
            if self.options.rate > 0:
                # Each record has its own slot in absolute time, so pacing never drifts.
                delay = self._start + index / self.options.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            self.summary.published += 1
            pending.add(asyncio.create_task(self._send(channel, index)))
            if len(pending) >= self.options.window:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        if pending:
            await asyncio.wait(pending)
        with suppress(*BROKER_FAULTS):  # all it sent is confirmed: a broker gone by now takes nothing with it
            await channel.close()

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(1)
            self.summary.elapsed = time.monotonic() - self._start
            if self.progress:
                self.progress(self.summary)

    async def run(self) -> PublishSummary:
        """Publish until done; a broker down or stopping at start delays it (a stop meanwhile: nothing sent)."""
        try:
            connection = await connect_through_faults(self.options.amqp_url, stop=self.stop)
        except Stopping:
            return self.summary
        async with connection:
            try:
                channel = await open_channel(connection, publisher_confirms=False, stop=self.stop)
                await through_broker_faults(f"declaring queue {self.options.queue}",
                                            lambda: declare_service_queue(channel, self.options.queue),
                                            stop=self.stop)
            except Stopping:
                return self.summary
            with suppress(*BROKER_FAULTS):
                await channel.close()
            self._start = time.monotonic()
            reporter = asyncio.create_task(self._report())
            try:
                await asyncio.gather(*(self._publisher(connection) for _ in range(max(1, self.options.publishers))))
            finally:
                reporter.cancel()
        self.summary.elapsed = time.monotonic() - self._start
        return self.summary


async def publish_rows(options: PublishOptions, factory: MessageFactory, stop: asyncio.Event | None = None,
                       progress: Callable[[PublishSummary], None] | None = None) -> PublishSummary:
    return await Publisher(options, factory, stop, progress).run()
