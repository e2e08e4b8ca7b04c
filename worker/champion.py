"""The champion's health as this worker sees it: a champion that does not load never stops the worker.

The worker keeps predicting with the champion it had; when it has none (a first load), it consumes nothing, so
the messages wait in the queue untouched (no job, no dead letter), and it tries again on the next assignment
or after WORKER_MODEL_RETRY_SECONDS. Every failed load counts in
`worker_model_load_failures_total{role="champion"}`; logging, the event and the report to
`PUT /queue_manager/services/{name}/champion/health` are worker.model_health's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ChampionHealth, Service
from worker.model_health import ERROR_LIMIT, FAILING, OK, HealthTracker, Report, label


class ChampionHealthTracker(HealthTracker):
    role = "champion"

    def follow(self, service: Service) -> None:
        self._follow(service.algorithm, service.champion_health)

    def failed(self, ref: AlgorithmRef, error: str, serving: AlgorithmRef | None) -> None:
        self.metrics.model_load_failures.labels(self.role).inc()
        meanwhile = (f"still serving {label(serving)}" if serving else
                     "no model to serve with: the messages stay in the queue until one loads")
        self._failing("load", ref, error, serving,
                      f"champion {label(ref)} of service {self.service} does not load: {error}; {meanwhile}",
                      ChampionHealth(state=FAILING, error=f"load: {error}"[:ERROR_LIMIT], champion=ref,
                                     serving=serving, worker=self.worker_id, at=datetime.now(UTC)))

    def succeeded(self, ref: AlgorithmRef) -> None:
        self._ok(f"champion {label(ref)} of service {self.service} loads again",
                 ChampionHealth(state=OK, champion=ref, serving=ref, worker=self.worker_id, at=datetime.now(UTC)))

    async def _put(self, report: Report) -> None:
        # The client has no method for this report yet (conveyor/clients is another helper's); its generic call
        # keeps the token, the timeouts and the error classes.
        body = report.model_dump(mode="json")
        await self.qm.json("PUT", f"/queue_manager/services/{quote(self.service, safe='')}/champion/health",
                           json=body)
