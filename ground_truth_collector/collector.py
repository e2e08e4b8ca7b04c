"""Send the labels of records predicted at least `delay` ago, at an interval."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from conveyor.clients import APIError, APIUnavailable, MLDataClient
from ground_truth_collector.labels import LabelSource, arrives

log = logging.getLogger(__name__)
PAGE = 1000


@dataclass
class CollectorOptions:
    dataset: str
    service: str | None = None
    delay_seconds: float = 30.0
    interval_seconds: float = 10.0
    missing_share: float = 0.1
    seed: int = 0
    append_to_training: bool = False


@dataclass
class Progress:
    sent: int = 0
    never: int = 0
    unknown: int = 0
    appended: int = 0
    cursor: datetime | None = None
    withheld: set[str] = field(default_factory=set)


class Collector:
    def __init__(self, options: CollectorOptions, source: LabelSource, ml: MLDataClient, timestamp_column: str) -> None:
        self.options = options
        self.source = source
        self.ml = ml
        self.timestamp_column = timestamp_column
        self.progress = Progress()

    async def collect_once(self) -> int:
        """One pass over the records that became due; answers how many labels were sent."""
        due = datetime.now(UTC) - timedelta(seconds=self.options.delay_seconds)
        sent = 0
        while True:
            page = await self.ml.rows(
                self.options.dataset, "production", labeled="false", service=self.options.service, limit=PAGE,
                start=self.progress.cursor.isoformat() if self.progress.cursor else None, end=due.isoformat(),
            )
            labels = []
            for row in page.rows:
                record_id = row["record_id"]
                if record_id in self.progress.withheld:
                    continue
                label = self.source.label(record_id)
                if label is None:
                    self.progress.unknown += 1
                    self.progress.withheld.add(record_id)
                elif not arrives(record_id, self.options.missing_share, self.options.seed):
                    self.progress.never += 1
                    self.progress.withheld.add(record_id)
                else:
                    labels.append({"record_id": record_id, "label": label})
            if labels:
                result = await self.ml.post_labels(self.options.dataset, labels, self.options.append_to_training)
                sent += result.updated
                self.progress.appended += result.appended_to_training
            if page.rows:
                # Rows at the cursor's own time are read again next time; labelled ones no longer match.
                self.progress.cursor = datetime.fromisoformat(page.rows[-1][self.timestamp_column])
            if len(page.rows) < PAGE or (not labels and page.rows and
                                         all(r["record_id"] in self.progress.withheld for r in page.rows)):
                break
        self.progress.sent += sent
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                sent = await self.collect_once()
                if sent:
                    log.info("sent %d labels (total %d, never arriving %d)", sent, self.progress.sent,
                             self.progress.never)
            except APIUnavailable as exc:
                log.warning("ml_data_api unreachable: %s; trying again next interval", exc)
            except APIError as exc:
                log.error("labels refused: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.options.interval_seconds)
            except TimeoutError:
                pass
