"""The models a batch predicts with, loaded from the model cache beside the ones in use and swapped whole.

Champion and challenger change together on an assignment event: the worker loads the new set while it
predicts with the old one, and swaps between batches. A model already in use is kept, not loaded again.
No model that fails to load stops the worker, whatever loading it raised (a hostile pickle may raise
SystemExit): a champion that fails keeps the current champion (with none, there is nothing to predict with
and the worker consumes nothing); a challenger that fails is left out (its records go to the champion).
Either is tried again after `WORKER_MODEL_RETRY_SECONDS`, or at once on the next assignment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from conveyor.clients import APIUnavailable
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ChallengerMode, ModelRole, Service
from worker.challenger import ChallengerHealthTracker
from worker.champion import ChampionHealthTracker
from worker.model_health import label
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
    load_failed_at: float | None = None  # monotonic time of a failed load (the champion's or the challenger's)

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
        return self.load_failed_at is not None and time.monotonic() - self.load_failed_at >= retry_seconds

    def describe(self) -> str:
        if self.wanted is None:
            return "no challenger"
        state = "" if self.challenger else " (not loaded: its records go to the champion)"
        share = "every record beside the champion" if self.mode is ChallengerMode.shadow else f"share {self.share:g}"
        return f"challenger {label(self.wanted)}{state}, {self.mode.value if self.mode else 'split'}, {share}"


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class ModelsLoader:
    def __init__(self, store: ModelStore, champion_health: ChampionHealthTracker,
                 challenger_health: ChallengerHealthTracker) -> None:
        self.store = store
        self.champion_health = champion_health
        self.challenger_health = challenger_health

    async def _load(self, ref: AlgorithmRef, role: str) -> LoadedModel | str | None:
        """The model; or why it failed to load, in a sentence; or None when queue_manager could not be reached
        (a passing fault, not the model's: tried again later, not reported)."""
        try:
            return await self.store.load(ref)
        except APIUnavailable as exc:
            log.warning("could not fetch %s %s: %s; trying again later", role, label(ref), exc)
            return None
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except BaseException as exc:  # whatever loading a model raises (a pickle's SystemExit too) is the model's
            return _why(exc)

    async def _champion(self, service: Service, current: AssignedModels | None) -> tuple[LoadedModel | None, bool]:
        """The champion to predict with (None: there is none) and whether the one wanted failed to load."""
        wanted = service.algorithm
        held = current.champion if current is not None else None
        if wanted is None:
            if held is not None:
                log.warning("service %s lost its model; keeping %s", service.name, label(_ref(held)))
            return held, False
        if held is not None and wanted == _ref(held):
            return held, False
        loaded = await self._load(wanted, "champion")
        if isinstance(loaded, LoadedModel):
            self.champion_health.succeeded(wanted)
            return loaded, False
        if loaded is not None:
            self.champion_health.failed(wanted, loaded, _ref(held))
        return held, True

    async def _challenger(self, wanted: AlgorithmRef, current: AssignedModels | None) -> LoadedModel | None:
        if current is not None and current.challenger is not None and _ref(current.challenger) == wanted:
            return current.challenger
        loaded = await self._load(wanted, "challenger")
        if isinstance(loaded, str):
            self.challenger_health.failed("load", wanted, loaded)
        return loaded if isinstance(loaded, LoadedModel) else None

    async def load(self, service: Service, current: AssignedModels | None) -> AssignedModels | None:
        """The service's models, reusing those of `current` that did not change; None: no champion to predict with."""
        self.champion_health.follow(service)
        self.challenger_health.follow(service)
        champion, champion_failed = await self._champion(service, current)
        if champion is None:
            return None
        wanted = service.challenger
        challenger = await self._challenger(wanted, current) if wanted is not None else None
        mode = (service.challenger_mode or ChallengerMode.split) if wanted is not None else None
        failed = champion_failed or (wanted is not None and challenger is None)
        return AssignedModels(
            champion=champion, challenger=challenger, wanted=wanted, mode=mode, share=service.challenger_share,
            revision=service.assignment_revision, load_failed_at=time.monotonic() if failed else None,
        )
