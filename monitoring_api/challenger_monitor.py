"""Champion against challenger on a service's production rows, on demand and on the monitor's schedule.

A comparison reads a window of the service's production rows (by default its latest
MONITORING_CHALLENGER_WINDOW_ROWS) and judges the models currently assigned with
`monitoring_api.challenger.compare`. The schedule (`Monitor.check_all`) compares every enabled service
that has a challenger, stores each comparison as a point of the service's series, and, when the service's
`challenger_policy.auto_promote` is on and the verdict is challenger_better, asks queue_manager to promote
the challenger it compared (expected_challenger): a verdict about one model never promotes another, and a
challenger promoted once is not the challenger any more, so it is never promoted twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pandas as pd

from conveyor.api.errors import Conflict
from conveyor.clients import APIError, APIUnavailable
from conveyor.clients.peers import PeerClients
from conveyor.lookups import registered_dataset
from conveyor.schemas.challenger import ChallengerComparison, ChallengerPoint, ChallengerVerdict
from conveyor.schemas.services import ChallengerMode, ChallengerPromotion, Service
from conveyor.windows import Frame, WindowSpec, fetch
from monitoring_api.challenger import compare
from monitoring_api.challenger_store import ChallengerStore
from monitoring_api.settings import Settings

log = logging.getLogger(__name__)
PROMOTED_BY = "monitoring_api"
REASON_CHARS = 2000  # ChallengerPromotion.reason's limit


def _bounds(frame: Frame, timestamp: str) -> tuple[datetime | None, datetime | None]:
    """The times of the window's first and last rows."""
    if frame.total == 0 or timestamp not in frame.rows:
        return None, None
    times = pd.to_datetime(frame.rows[timestamp], utc=True, errors="coerce").dropna()
    if times.empty:
        return None, None
    return times.min().to_pydatetime(), times.max().to_pydatetime()


class ChallengerMonitor:
    """Comparisons with the process's clients and store (one per monitoring_api process)."""

    def __init__(self, settings: Settings, store: ChallengerStore, peers: PeerClients) -> None:
        self.settings = settings
        self.store = store
        self.peers = peers

    def default_window(self, service: str) -> WindowSpec:
        return WindowSpec("production", last=self.settings.challenger_window_rows, service=service)

    async def compare(self, service: Service, window: WindowSpec | None = None) -> ChallengerComparison:
        """The comparison on `window` (default: the service's latest rows); Conflict (409) without a challenger."""
        champion, challenger = service.algorithm, service.challenger
        if challenger is None:
            raise Conflict(f"service {service.name} has no challenger to compare: give it one with PATCH "
                           f"/queue_manager/services/{service.name} and a body such as "
                           '{"challenger": {"name": "...", "version": 2}, "challenger_mode": "shadow"}')
        if champion is None:
            raise Conflict(f"service {service.name} has a challenger but no champion (algorithm) to compare it with: "
                           f"set its algorithm with PATCH /queue_manager/services/{service.name}")
        schema = (await registered_dataset(self.peers.queue_manager, service.dataset)).to_schema()
        frame = await fetch(self.peers.ml_data, schema, window or self.default_window(service.name),
                            self.settings.sample_cap)
        start, end = _bounds(frame, schema.timestamp_column)
        # A challenger given without a mode is split (queue_manager's rule for older clients).
        mode = service.challenger_mode or ChallengerMode.split
        return await asyncio.to_thread(
            compare, schema.task, mode, frame.rows, champion, challenger, service.challenger_policy,
            self.settings.challenger_bootstrap_resamples, service=service.name, dataset=schema.name,
            at=datetime.now(UTC), window_start=start, window_end=end)

    async def check(self, service: Service) -> ChallengerPoint:
        """One scheduled point: the comparison, the promotion its policy asks for, stored."""
        comparison = await self.compare(service)
        if service.challenger_policy.auto_promote and comparison.verdict is ChallengerVerdict.challenger_better:
            comparison = comparison.model_copy(update={"promoted": await self._promote(service, comparison)})
        return await asyncio.to_thread(self.store.record, comparison)

    async def check_all(self, services: list[Service]) -> int:
        """A point for each of `services` that has a challenger; one service's trouble never stops the others."""
        compared = [s for s in services if s.challenger is not None and s.algorithm is not None]
        for service in compared:
            try:
                await self.check(service)
            except Exception as exc:
                log.warning("challenger comparison of %s failed: %s", service.name, exc)
        return len(compared)

    async def _promote(self, service: Service, comparison: ChallengerComparison) -> bool:
        policy = service.challenger_policy
        promotion = ChallengerPromotion(old_champion=policy.old_champion, by=PROMOTED_BY,
                                        reason=comparison.reason[:REASON_CHARS],
                                        expected_challenger=comparison.challenger.model)
        try:
            answer = await self.peers.queue_manager.promote_challenger(service.name, promotion)
        except APIError as exc:
            # 409: the challenger changed since the service was read (a person, or another replica, promoted
            # or replaced it); this verdict is about a model that is no longer the challenger.
            log.warning("auto-promotion of %s on %s refused: %s", comparison.challenger.model.name, service.name, exc)
            return False
        except APIUnavailable as exc:  # the next scheduled point decides again
            log.warning("auto-promotion on %s failed, queue_manager unreachable: %s", service.name, exc)
            return False
        log.warning("service %s: challenger %s v%s promoted to champion (old champion: %s) because %s",
                    service.name, answer.champion.name, answer.champion.version, policy.old_champion.value,
                    comparison.reason)
        return True
