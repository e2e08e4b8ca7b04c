"""A model's health as this worker sees it: logged and announced on a change, reported to queue_manager.

A model that fails never stops the worker (see worker.challenger and worker.champion for what each role does
instead). A line is logged and a `service.<name>.model_failed` event published when this worker's view of the
model changes (not at every batch or retry of a model that keeps failing); the service's `<role>_health` is
written only when the state it holds (ok | failing) differs from what was seen, in the background, so a
queue_manager outage delays the report and never a batch.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import ClassVar

from conveyor.clients import APIError, APIUnavailable, QueueManagerClient
from conveyor.retry import Backoff, Stopping, retry
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ChallengerHealth, ChampionHealth, ModelHealthReport
from worker.events import WorkerEvents
from worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)
OK, FAILING = "ok", "failing"
ERROR_LIMIT = 1000

Report = ChallengerHealth | ChampionHealth


def label(ref: AlgorithmRef | None) -> str:
    return f"{ref.name} v{ref.version}" if ref else "none"


def about(report: ModelHealthReport) -> AlgorithmRef | None:
    """The model a report is about (its `challenger` or `champion`)."""
    if isinstance(report, ChallengerHealth):
        return report.challenger
    if isinstance(report, ChampionHealth):
        return report.champion
    return None


class HealthTracker(ABC):
    role: ClassVar[str]

    def __init__(self, qm: QueueManagerClient, service: str, worker_id: str, metrics: WorkerMetrics,
                 stop: asyncio.Event, backoff: Backoff, events: WorkerEvents) -> None:
        self.qm = qm
        self.service = service
        self.worker_id = worker_id
        self.metrics = metrics
        self.stop = stop
        self.backoff = backoff
        self.events = events
        self.model: AlgorithmRef | None = None  # the service's model of this role, as last learnt
        self.reported = OK  # the state the service holds, as far as this worker knows
        self.seen: str | None = None  # what this worker last saw itself (for the log and the event)
        self._wanted: Report | None = None
        self._task: asyncio.Task[None] | None = None

    def _follow(self, model: AlgorithmRef | None, stored: Report | None) -> None:
        """Take the service's model of this role and its stored health (cleared when the model changes)."""
        if model == self.model:
            return
        self.model = model
        about_it = stored is not None and about(stored) in (None, model)
        self.reported = stored.state if stored is not None and about_it else OK
        self.seen = None
        self._wanted = None

    def _failing(self, stage: str, ref: AlgorithmRef, error: str, serving: AlgorithmRef | None,
                 line: str, report: Report) -> None:
        if self.seen != FAILING:
            log.error("%s", line)
            self.events.model_failed(self.role, stage, ref, error, serving)
        self.seen = FAILING
        self._want(report)

    def _ok(self, line: str, report: Report) -> None:
        if self.seen == FAILING:
            log.info("%s", line)
        self.seen = OK
        self._want(report)

    def _want(self, report: Report) -> None:
        if about(report) != self.model:
            return  # about a model the service no longer has
        self._wanted = report
        if report.state != self.reported and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._send())

    @abstractmethod
    async def _put(self, report: Report) -> None:
        """Send the report to queue_manager."""

    async def _send(self) -> None:
        # The state wanted may change while a report waits through an outage: each attempt sends the latest.
        while (report := self._wanted) is not None and report.state != self.reported:
            sent = report

            async def put() -> None:
                nonlocal sent
                sent = self._wanted or sent
                await self._put(sent)

            try:
                await retry(f"reporting {self.role} health of {self.service}", put, backoff=self.backoff,
                            stop=self.stop, passing=(APIUnavailable,))
            except APIError as exc:  # 409: the model changed meanwhile; 404: the service is gone
                log.warning("%s health of %s not reported: %s", self.role, self.service, exc)
                return
            except Stopping:
                return
            if about(sent) == self.model:
                self.reported = sent.state
                log.info("reported %s %s of %s as %s", self.role, label(about(sent)), self.service, sent.state)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
