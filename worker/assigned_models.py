"""The models a batch predicts with, loaded from the model cache beside the ones in use and swapped whole.

Champion and challenger change together on an assignment event: the worker loads the new set while it
predicts with the old one, and swaps between batches. A model already in use is kept, not loaded again.
A champion that fails to load keeps the current champion; a challenger that fails to load is left out
(its records go to the champion) and is tried again after `WORKER_CHALLENGER_RETRY_SECONDS`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ChallengerMode, ModelRole, Service
from worker.challenger import ChallengerHealthTracker, label
from worker.model_store import LoadedModel, ModelStore
from worker.routing import serves_challenger

log = logging.getLogger(__name__)


def _ref(model: LoadedModel | None) -> AlgorithmRef | None:
    return AlgorithmRef(name=model.name, version=model.version) if model else None


@dataclass(frozen=True)
class AssignedModels:
    champion: LoadedModel
    challenger: LoadedModel | None = None  # None: no challenger, or it failed to load
    wanted: AlgorithmRef | None = None  # the service's challenger, loaded or not
    mode: ChallengerMode | None = None
    share: float = 0.0
    revision: int = 0
    load_failed_at: float | None = None  # monotonic time of the challenger's failed load

    @property
    def shadow(self) -> bool:
        return self.challenger is not None and self.mode is ChallengerMode.shadow

    @property
    def split(self) -> bool:
        return self.challenger is not None and self.mode is not ChallengerMode.shadow

    def role_of(self, record_id: str) -> ModelRole:
        """Split mode: the challenger's stable share of records; every other record is the champion's."""
        if self.split and serves_challenger(record_id, self.share):
            return ModelRole.challenger
        return ModelRole.champion

    def retry_due(self, retry_seconds: float) -> bool:
        return (self.wanted is not None and self.challenger is None and self.load_failed_at is not None
                and time.monotonic() - self.load_failed_at >= retry_seconds)

    def describe(self) -> str:
        if self.wanted is None:
            return "no challenger"
        state = "" if self.challenger else " (not loaded: its records go to the champion)"
        share = "every record beside the champion" if self.mode is ChallengerMode.shadow else f"share {self.share:g}"
        return f"challenger {label(self.wanted)}{state}, {self.mode.value if self.mode else 'split'}, {share}"


class ModelsLoader:
    def __init__(self, store: ModelStore, health: ChallengerHealthTracker) -> None:
        self.store = store
        self.health = health

    async def _champion(self, service: Service, current: AssignedModels | None) -> LoadedModel:
        wanted = service.algorithm
        if current is not None:
            if wanted is None:
                log.warning("service %s lost its model; keeping %s v%s", service.name, current.champion.name,
                            current.champion.version)
                return current.champion
            if wanted == _ref(current.champion):
                return current.champion
            try:
                return await self.store.load(wanted)
            except Exception as exc:
                log.error("could not load %s: %s; keeping the current model", wanted, exc)
                return current.champion
        if wanted is None:
            raise ValueError(f"service {service.name} has no model assigned")
        return await self.store.load(wanted)  # at start-up there is nothing to fall back on

    async def _challenger(self, wanted: AlgorithmRef, current: AssignedModels | None) -> LoadedModel | None:
        if current is not None and current.challenger is not None and _ref(current.challenger) == wanted:
            return current.challenger
        try:
            return await self.store.load(wanted)
        except Exception as exc:
            self.health.failed("load", wanted, f"{type(exc).__name__}: {exc}")
            return None

    async def load(self, service: Service, current: AssignedModels | None) -> AssignedModels:
        """The service's models, reusing those of `current` that did not change."""
        self.health.follow(service)
        champion = await self._champion(service, current)
        wanted = service.challenger
        challenger = await self._challenger(wanted, current) if wanted is not None else None
        mode = (service.challenger_mode or ChallengerMode.split) if wanted is not None else None
        return AssignedModels(
            champion=champion, challenger=challenger, wanted=wanted, mode=mode, share=service.challenger_share,
            revision=service.assignment_revision,
            load_failed_at=time.monotonic() if wanted is not None and challenger is None else None,
        )
