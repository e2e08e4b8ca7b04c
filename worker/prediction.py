"""Predict a batch: one `.predict` per model, the champion's served, the challenger's by split or in shadow.

Split: the challenger predicts its share of the batch first, so that if it fails, its records join the
champion's one call. Shadow: both predict every record; the champion's prediction is served, the
challenger's is stored beside it. Runs in a thread; what the challenger did is answered, not reported
from here (reporting belongs to the event loop).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.datasets import DatasetSchema, FeatureType
from conveyor.schemas.services import ModelRole
from worker.assigned_models import AssignedModels
from worker.items import Item
from worker.metrics import WorkerMetrics
from worker.model_store import LoadedModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChallengerRun:
    """The challenger predicted (error None) or failed to; None when it had no record in the batch."""

    challenger: AlgorithmRef
    error: str | None = None


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class Predictor:
    def __init__(self, schema: DatasetSchema, metrics: WorkerMetrics) -> None:
        self.schema = schema
        self.metrics = metrics

    def _frame(self, items: list[Item]) -> pd.DataFrame:
        return pd.DataFrame([i.parsed.features for i in items], columns=self.schema.feature_names)

    def _typed(self, value: Any) -> Any:
        value = _plain(value)
        if self.schema.target_type is FeatureType.float:
            return float(value)
        if self.schema.target_type is FeatureType.int:
            return int(value)
        if self.schema.target_type is FeatureType.bool:
            return bool(value)
        return str(value)

    def predict(self, models: AssignedModels, items: list[Item]) -> ChallengerRun | None:
        challenger = models.challenger
        if challenger is None:
            self._serve(models.champion, items)
            return None
        if models.shadow:
            frame = self._frame(items)  # both models read the same rows: built once
            self._serve(models.champion, items, frame)
            shadows, shadow_run = self._challenger(challenger, items, frame)
            if shadows is not None:
                for item, value in zip(items, shadows, strict=True):
                    item.shadow, item.shadow_model = value, challenger
                self.metrics.predictions.labels("shadow").inc(len(items))
            return shadow_run
        theirs: list[Item] = []
        ours: list[Item] = []
        for item in items:
            (theirs if models.role_of(item.parsed.record_id) is ModelRole.challenger else ours).append(item)
        run: ChallengerRun | None = None
        if theirs:
            values, run = self._challenger(challenger, theirs)
            if values is None:
                ours = items  # the champion predicts the challenger's records too
            else:
                for item, value in zip(theirs, values, strict=True):
                    item.prediction, item.model, item.role = value, challenger, ModelRole.challenger
                self.metrics.predictions.labels(ModelRole.challenger.value).inc(len(theirs))
        if ours:
            self._serve(models.champion, ours)
        return run

    def _challenger(self, model: LoadedModel, items: list[Item], frame: pd.DataFrame | None = None
                    ) -> tuple[list[Any] | None, ChallengerRun]:
        ref = AlgorithmRef(name=model.name, version=model.version)
        started = time.perf_counter()
        try:
            raw = list(model.model.predict(self._frame(items) if frame is None else frame))
            if len(raw) != len(items):
                raise ValueError(f"{len(raw)} predictions for {len(items)} records")
            values = [self._typed(v) for v in raw]
        except Exception as exc:  # anything it does wrong is its own failure, never the champion's
            return None, ChallengerRun(ref, f"{type(exc).__name__}: {exc}")
        finally:
            self.metrics.challenger_predict_seconds.observe(time.perf_counter() - started)
        return values, ChallengerRun(ref)

    def _serve(self, model: LoadedModel, items: list[Item], frame: pd.DataFrame | None = None) -> None:
        """The champion's predictions; a batch it fails on is retried row by row to find the bad records."""
        frame = self._frame(items) if frame is None else frame
        started = time.perf_counter()
        try:
            predictions = list(model.model.predict(frame))
        except Exception as exc:
            log.warning("batch predict failed (%s); predicting row by row", exc)
            predictions = []
            for index in range(len(frame)):
                try:
                    predictions.append(model.model.predict(frame.iloc[[index]])[0])
                except Exception as row_exc:
                    items[index].error = f"the model failed on this record: {type(row_exc).__name__}: {row_exc}"
                    predictions.append(None)
        self.metrics.predict_seconds.observe(time.perf_counter() - started)
        for item, value in zip(items, predictions, strict=True):
            item.model, item.role = model, ModelRole.champion
            if item.error is None:
                item.prediction = self._typed(value)
        self.metrics.predictions.labels(ModelRole.champion.value).inc(len(items))
