"""Gauges of facts a service keeps in its store (open episodes, runs by status, assigned models).

The facts change in more than one process (a retraining executor, another replica, a request), so they are
read from the store, not counted in memory. A scrape must never wait on the store: a background task reads
every `interval` seconds in a thread and /metrics serves the last reading. A failed read keeps the last one
and counts the failure (`<prefix>_store_metrics_read_failures_total`), so stale figures can be told apart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# Prometheus scrapes every 15 s (deploy/prometheus/prometheus.yml): fresher readings would go unseen.
READ_INTERVAL_SECONDS = 15.0


@dataclass(frozen=True)
class Family:
    name: str
    doc: str
    labels: tuple[str, ...]


# Family name -> (label values, value) samples.
Reading = dict[str, list[tuple[tuple[str, ...], float]]]


class StoreGauges(Collector):
    def __init__(self, prefix: str, families: Sequence[Family], read: Callable[[], Reading],
                 registry: CollectorRegistry, interval: float = READ_INTERVAL_SECONDS) -> None:
        self.families = {family.name: family for family in families}
        self.read = read
        self.interval = interval
        self.last: Reading = {}
        self.failures = Counter(f"{prefix}_store_metrics_read_failures_total",
                                "Failed reads of the store's gauges (the last reading is served)", registry=registry)
        registry.register(self)

    def describe(self) -> Iterator[Metric]:
        # Registering does not read the store: the names are known without it.
        for family in self.families.values():
            yield GaugeMetricFamily(family.name, family.doc, labels=family.labels)

    def collect(self) -> Iterator[Metric]:
        for name, family in self.families.items():
            gauge = GaugeMetricFamily(name, family.doc, labels=family.labels)
            for labels, value in self.last.get(name, []):
                gauge.add_metric(list(labels), value)
            yield gauge

    async def refresh(self) -> None:
        try:
            reading = await asyncio.to_thread(self.read)
        except Exception:  # the store being down is reported by /ready; here the last reading stays
            self.failures.inc()
            log.warning("reading the store's gauges failed; serving the last reading", exc_info=True)
            return
        unknown = set(reading) - set(self.families)
        if unknown:
            raise ValueError(f"store gauges read undeclared families: {sorted(unknown)}")
        self.last = reading

    async def run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.interval)


def serving(gauges: StoreGauges) -> AbstractAsyncContextManager[StoreGauges]:
    """Refresh `gauges` in the background while the context is open (enter it in a service's startup)."""

    @asynccontextmanager
    async def running() -> AsyncIterator[StoreGauges]:
        task = asyncio.create_task(gauges.run())
        try:
            yield gauges
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    return running()
