"""The challenger's health as this worker sees it: a challenger that fails never stops the champion.

Its records go to the champion (split) or get no shadow prediction (shadow). Every failure counts in
`worker_challenger_failures_total{stage}` (a failed load in `worker_model_load_failures_total{role="challenger"}`
too); logging, the event and the report to `PUT /queue_manager/services/{name}/challenger/health` are
worker.model_health's.
"""

from __future__ import annotations

from datetime import UTC, datetime

from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ChallengerHealth, Service
from worker.model_health import ERROR_LIMIT, FAILING, OK, HealthTracker, Report, label


class ChallengerHealthTracker(HealthTracker):
    role = "challenger"

    def follow(self, service: Service) -> None:
        self._follow(service.challenger, service.challenger_health)

    def failed(self, stage: str, ref: AlgorithmRef, error: str) -> None:
        self.metrics.challenger_failures.labels(stage).inc()
        if stage == "load":
            self.metrics.model_load_failures.labels(self.role).inc()
        self._failing(stage, ref, error, None,
                      f"challenger {label(ref)} failed to {stage}: {error}; the champion carries on without it",
                      ChallengerHealth(state=FAILING, error=f"{stage}: {error}"[:ERROR_LIMIT], challenger=ref,
                                       worker=self.worker_id, at=datetime.now(UTC)))

    def succeeded(self, ref: AlgorithmRef) -> None:
        self._ok(f"challenger {label(ref)} predicts again",
                 ChallengerHealth(state=OK, challenger=ref, worker=self.worker_id, at=datetime.now(UTC)))

    async def _put(self, report: Report) -> None:
        if isinstance(report, ChallengerHealth):
            await self.qm.report_challenger_health(self.service, report)
