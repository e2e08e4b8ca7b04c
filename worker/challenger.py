"""The challenger's health as this worker sees it: counted, logged, and reported to queue_manager on a change.

A challenger that fails never stops the champion: its records go to the champion (split) or get no shadow
prediction (shadow). Every failure counts in `worker_challenger_failures_total{stage}`; a line is logged
when this worker's view changes (not at every batch of a challenger that keeps failing); the service's
`challenger_health` is written only when the state it holds (ok | failing) differs from what was seen, in
the background, so a queue_manager outage delays the report and never a batch.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from conveyor.clients import APIError, APIUnavailable, QueueManagerClient
from conveyor.retry import Backoff, Stopping, retry
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ChallengerHealth, Service
from worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)
OK, FAILING = "ok", "failing"
ERROR_LIMIT = 1000


def label(ref: AlgorithmRef) -> str:
    return f"{ref.name} v{ref.version}"


class ChallengerHealthTracker:
    def __init__(self, qm: QueueManagerClient, service: str, worker_id: str, metrics: WorkerMetrics,
                 stop: asyncio.Event, backoff: Backoff) -> None:
        self.qm = qm
        self.service = service
        self.worker_id = worker_id
        self.metrics = metrics
        self.stop = stop
        self.backoff = backoff
        self.challenger: AlgorithmRef | None = None
        self.reported = OK  # the state the service holds, as far as this worker knows
        self.seen: str | None = None  # what this worker last saw itself (for the log)
        self._wanted: ChallengerHealth | None = None
        self._task: asyncio.Task[None] | None = None

    def follow(self, service: Service) -> None:
        """Take the service's challenger and stored health (queue_manager clears it when the challenger changes)."""
        if service.challenger == self.challenger:
            return
        self.challenger = service.challenger
        health = service.challenger_health
        about_it = health is not None and health.challenger in (None, service.challenger)
        self.reported = health.state if health is not None and about_it else OK
        self.seen = None
        self._wanted = None

    def failed(self, stage: str, ref: AlgorithmRef, error: str) -> None:
        self.metrics.challenger_failures.labels(stage).inc()
        if self.seen != FAILING:
            log.error("challenger %s failed to %s: %s; the champion carries on without it", label(ref), stage, error)
        self.seen = FAILING
        self._want(ChallengerHealth(state=FAILING, error=f"{stage}: {error}"[:ERROR_LIMIT], challenger=ref,
                                    worker=self.worker_id, at=datetime.now(UTC)))

    def succeeded(self, ref: AlgorithmRef) -> None:
        if self.seen == FAILING:
            log.info("challenger %s predicts again", label(ref))
        self.seen = OK
        self._want(ChallengerHealth(state=OK, challenger=ref, worker=self.worker_id, at=datetime.now(UTC)))

    def _want(self, health: ChallengerHealth) -> None:
        if health.challenger != self.challenger:
            return  # about a challenger the service no longer has
        self._wanted = health
        if health.state != self.reported and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._send())

    async def _send(self) -> None:
        # The state wanted may change while a report waits through an outage: each attempt sends the latest.
        while (health := self._wanted) is not None and health.state != self.reported:
            sent = health

            async def report() -> None:
                nonlocal sent
                sent = self._wanted or sent
                await self.qm.report_challenger_health(self.service, sent)

            try:
                await retry(f"reporting challenger health of {self.service}", report, backoff=self.backoff,
                            stop=self.stop, passing=(APIUnavailable,))
            except APIError as exc:  # 409: the challenger changed meanwhile; 404: the service is gone
                log.warning("challenger health of %s not reported: %s", self.service, exc)
                return
            except Stopping:
                return
            if sent.challenger == self.challenger:
                self.reported = sent.state
                log.info("reported challenger %s of %s as %s", label(sent.challenger) if sent.challenger
                         else None, self.service, sent.state)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
