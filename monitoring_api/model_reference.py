"""A model version's own error and its performance estimator, what the checks compare production with.

The reference error is the version's holdout score recorded at registration (Algorithm.metrics); for a
version uploaded without one it is computed once on its holdout (Algorithm.holdout, else the dataset's
testing split) and kept in `monitoring_model_references`, so a restart does not recompute it. The
estimator (monitoring_api.estimation) is fitted on the same holdout rows, with the model's own predictions,
once per process and version.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from psycopg2.extras import Json

from conveyor.api.errors import NotFound, Unprocessable
from conveyor.clients import APIError, APIUnavailable
from conveyor.clients.peers import PeerClients
from conveyor.lru import LRU
from conveyor.pg import Database
from conveyor.schemas.algorithms import Algorithm, AlgorithmRef, HoldoutSplit, HoldoutWindow
from conveyor.schemas.datasets import DatasetSchema, Task
from conveyor.schemas.monitoring import Estimate, ReferenceError
from conveyor.training import frame_from_rows, load_model
from conveyor.training.metrics import classification_scores, regression_scores
from conveyor.windows import WindowSpec, fetch
from monitoring_api.estimation import (
    ConfidenceEstimator,
    LossEstimator,
    NotEnoughRows,
    fit_confidence_estimator,
    fit_loss_estimator,
    no_probabilities,
)
from monitoring_api.service import LABEL, PREDICTION

log = logging.getLogger(__name__)

MODEL_REFERENCE_DDL = """
CREATE TABLE IF NOT EXISTS monitoring_model_references (
    model text NOT NULL,
    version int NOT NULL,
    sha256 text NOT NULL,
    reference_error jsonb NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version)
);
"""
HOLDOUT_CAP = 20_000  # holdout rows read to score and fit on (a sample beyond it)
REVALIDATE_SECONDS = 300.0  # how long a reference is used before queue_manager is asked whether it still holds
# The figures of each task, named as ReferenceError's fields and (lower-cased) as PyCaret records them.
METRIC_FIELDS = {Task.regression: ("mae", "rmse", "r2"), Task.classification: ("accuracy", "f1")}
EstimatorType = LossEstimator | ConfidenceEstimator


@dataclass
class ModelReference:
    reference_error: ReferenceError
    estimator: EstimatorType | None
    unavailable_reason: str | None = None  # why there is no estimator
    schema: DatasetSchema | None = None

    @property
    def complete(self) -> bool:
        figures = (self.reference_error.mae, self.reference_error.rmse, self.reference_error.accuracy,
                   self.reference_error.f1)
        return self.estimator is not None and any(v is not None for v in figures)

    def estimate(self, window: pd.DataFrame) -> Estimate:
        """The window's estimated performance (CPU work: call it in asyncio.to_thread); never raises."""
        if self.estimator is None or self.schema is None:
            return Estimate(method=None, reason=self.unavailable_reason or "no estimator for this model")
        if window.empty:
            return Estimate(method=None, reason="the window holds no rows")
        try:
            features, _ = frame_from_rows(window, self.schema)
        except (ValueError, TypeError) as exc:
            return Estimate(method=None, reason=f"the window's features cannot be read: {exc}")
        if isinstance(self.estimator, ConfidenceEstimator):
            return self.estimator.estimate(features)
        if PREDICTION not in window:
            return Estimate(method=None, reason=f"the window has no {PREDICTION!r} column to estimate from")
        predictions = pd.to_numeric(window[PREDICTION], errors="coerce").to_numpy(dtype=float)
        return self.estimator.estimate(features, predictions)


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def registered_error(algorithm: Algorithm, task: Task) -> dict[str, float] | None:
    """The task's figures among the metrics recorded at registration (names compared case-insensitively)."""
    given = {str(k).lower(): _finite(v) for k, v in algorithm.metrics.items()}
    if task is Task.regression and given.get("rmse") is None and given.get("mse") is not None:
        given["rmse"] = math.sqrt(given["mse"] or 0.0)
    figures = {name: value for name in METRIC_FIELDS[task] if (value := given.get(name)) is not None}
    return figures or None


def reference_error(ref: AlgorithmRef, source: str, rows: int, figures: dict[str, float]) -> ReferenceError:
    return ReferenceError(model=ref.name, version=ref.version, source=source, rows=rows).model_copy(update=figures)


def describe(holdout: HoldoutWindow | None) -> str:
    if holdout is None:
        return "the testing split (the version records no holdout)"
    if holdout.split is HoldoutSplit.testing:
        return f"the testing split ({holdout.rows} rows at registration)"
    ends = [("from", holdout.start), ("to", holdout.end)]
    span = "".join(f" {word} {t.isoformat()}" for word, t in ends if t is not None)
    return f"production rows of {holdout.service}{span} ({holdout.rows} rows at registration)"


def holdout_spec(holdout: HoldoutWindow | None) -> tuple[WindowSpec, str | None]:
    """Where the holdout rows are and which column holds their truth (None: the dataset's target)."""
    if holdout is None:
        return WindowSpec("testing"), None
    # ml_data_api's end is exclusive; the holdout's is the last row's own timestamp.
    end = holdout.end + timedelta(microseconds=1) if holdout.end is not None else None
    if holdout.split is HoldoutSplit.testing:
        return WindowSpec("testing", start=holdout.start, end=end), None
    return WindowSpec("production", start=holdout.start, end=end, labeled=True, service=holdout.service), LABEL


@dataclass
class _Scored:
    features: pd.DataFrame
    truth: pd.Series
    predictions: np.ndarray
    problem: str | None = None


def score_holdout(model: Any, rows: pd.DataFrame, schema: DatasetSchema, truth_column: str | None) -> _Scored:
    """The holdout's features, truth and the model's predictions of them (CPU work)."""
    empty = _Scored(pd.DataFrame(), pd.Series(dtype=float), np.array([]))
    try:
        features, truth = frame_from_rows(rows, schema, truth_column)
    except (ValueError, TypeError) as exc:
        return _Scored(empty.features, empty.truth, empty.predictions, f"its holdout rows cannot be read: {exc}")
    if truth is None:
        return _Scored(empty.features, empty.truth, empty.predictions, "its holdout rows carry no labels")
    labelled = truth.notna().to_numpy()
    features, truth = features.loc[labelled].reset_index(drop=True), truth.loc[labelled].reset_index(drop=True)
    try:
        predictions = np.asarray(model.predict(features))
    except Exception as exc:  # a user's model can fail in any way: it is reported, not raised
        return _Scored(empty.features, empty.truth, empty.predictions,
                       f"the model could not predict its holdout rows: {type(exc).__name__}: {exc}")
    return _Scored(features, truth, predictions)


def computed_error(scored: _Scored, model: Any, task: Task) -> dict[str, float]:
    if task is Task.regression:
        scores = regression_scores(scored.truth.to_numpy(dtype=float), scored.predictions.astype(float))
    else:
        scores = classification_scores(model, scored.features, scored.truth, scored.predictions)
    return {field_: value for field_, value in ((f, _finite(s)) for f, s in (
        ("mae", scores.get("MAE")), ("rmse", scores.get("RMSE")), ("r2", scores.get("R2")),
        ("accuracy", scores.get("Accuracy")), ("f1", scores.get("F1")))) if value is not None}


def fit_estimator(scored: _Scored, model: Any, task: Task) -> tuple[EstimatorType | None, str | None]:
    if task is Task.classification:
        if not hasattr(model, "predict_proba"):
            return None, no_probabilities(model)
        if not len(getattr(model, "classes_", [])):
            return None, f"the model gives probabilities but names no classes ({type(model).__name__}.classes_)"
        try:
            return fit_confidence_estimator(model, scored.features, scored.truth.to_numpy()), None
        except Exception as exc:  # a user's model can fail in any way: reported, not raised
            return None, f"the model could not give probabilities for its holdout: {type(exc).__name__}: {exc}"
    try:
        return fit_loss_estimator(scored.features, scored.predictions, scored.truth.to_numpy(dtype=float)), None
    except NotEnoughRows as exc:
        return None, f"no loss estimator: {exc}"


def fingerprint(algorithm: Algorithm) -> str:
    """What the reference is built from: a changed file, metrics or holdout (a PATCH) means another reference."""
    return algorithm.model_dump_json(include={"file", "metrics", "holdout"})


@dataclass
class _Entry:
    reference: ModelReference
    fingerprint: str | None  # None: the algorithm could not be read
    at: float = field(default_factory=time.monotonic)


class ModelReferences:
    """One per monitoring_api process (built in main.py): references by (name, version), a few in memory.

    A reference is looked at again after `revalidate_seconds`: rebuilt when the version's file, metrics or
    holdout changed, or when it was incomplete (no holdout rows yet, say); otherwise kept."""

    def __init__(self, peers: PeerClients, db: Database, cap: int, holdout_cap: int = HOLDOUT_CAP,
                 revalidate_seconds: float = REVALIDATE_SECONDS) -> None:
        self.peers = peers
        self.db = db
        self.holdout_cap = holdout_cap
        self.revalidate_seconds = revalidate_seconds
        self._cache: LRU[tuple[str, int], _Entry] = LRU(cap)
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}

    async def get(self, schema: DatasetSchema, algorithm: AlgorithmRef) -> ModelReference:
        """The version's reference; data problems come back as its reasons, an unreachable peer raises."""
        key = (algorithm.name, algorithm.version)
        # One build per version at a time: concurrent checks of one model wait for the first.
        async with self._locks.setdefault(key, asyncio.Lock()):
            entry = self._cache.get(key)
            if entry and time.monotonic() - entry.at < self.revalidate_seconds:
                return entry.reference
            try:
                found: Algorithm | str = await self.peers.queue_manager.get_algorithm(algorithm.name,
                                                                                      algorithm.version)
            except APIError as exc:
                found = f"queue_manager does not give algorithm {algorithm.name} v{algorithm.version}: {exc.detail}"
            except APIUnavailable:
                if entry is None:
                    raise
                return entry.reference  # queue_manager away for a while: what was known still holds
            if isinstance(found, Algorithm) and entry and entry.reference.complete \
                    and entry.fingerprint == fingerprint(found):
                entry.at = time.monotonic()
                return entry.reference
            reference = await self._build(schema, algorithm, found)
            self._cache.put(key, _Entry(reference, fingerprint(found) if isinstance(found, Algorithm) else None))
            return reference

    async def _build(self, schema: DatasetSchema, ref: AlgorithmRef, algorithm: Algorithm | str) -> ModelReference:
        def missing(why: str, source: str | None = None, rows: int = 0,
                    figures: dict[str, float] | None = None) -> ModelReference:
            error = reference_error(ref, source or f"unknown: {why}", rows, figures or {})
            return ModelReference(error, None, f"no estimate: {why}", schema)

        if isinstance(algorithm, str):
            return missing(algorithm)
        qm = self.peers.queue_manager
        registered = registered_error(algorithm, schema.task)
        where = describe(algorithm.holdout)
        rows = algorithm.holdout.rows if algorithm.holdout else 0
        source = f"metrics recorded at registration, scored on {where}" if registered else None
        figures = registered or {}
        try:
            model = await asyncio.to_thread(load_model, await qm.download_algorithm(ref.name, ref.version))
        except APIError as exc:
            return missing(f"its model file cannot be downloaded: {exc.detail}", source, rows, figures)
        except Exception as exc:  # unpickling a user's file can fail in any way: reported, not raised
            return missing(f"its model file cannot be loaded: {type(exc).__name__}: {exc}", source, rows, figures)
        spec, truth_column = holdout_spec(algorithm.holdout)
        try:
            frame = await fetch(self.peers.ml_data, schema, spec, self.holdout_cap)
        except (NotFound, Unprocessable) as exc:
            return missing(f"its holdout ({where}) cannot be read: {exc.message}", source, rows, figures)
        if frame.total == 0:
            return missing(f"its holdout ({where}) holds no labelled rows", source, rows, figures)
        scored = await asyncio.to_thread(score_holdout, model, frame.rows, schema, truth_column)
        problem = scored.problem or (f"its holdout ({where}) holds no labelled rows" if scored.truth.empty else None)
        if problem is not None:
            return missing(problem, source, rows, figures)
        if registered is None:
            stored = await asyncio.to_thread(self._stored, algorithm)
            if stored is None:
                sample = f" (a sample of {frame.total})" if frame.sampled else ""
                stored = reference_error(
                    ref, f"computed once by monitoring_api on {where}: {len(scored.truth)} labelled rows{sample}",
                    len(scored.truth), computed_error(scored, model, schema.task))
                await asyncio.to_thread(self._store, algorithm, stored)
            error = stored
        else:
            error = reference_error(ref, source or where, rows or len(scored.truth), figures)
        estimator, reason = await asyncio.to_thread(fit_estimator, scored, model, schema.task)
        return ModelReference(error, estimator, reason, schema)

    def _stored(self, algorithm: Algorithm) -> ReferenceError | None:
        row = self.db.one("SELECT reference_error FROM monitoring_model_references WHERE model = %s AND "
                          "version = %s AND sha256 = %s", (algorithm.name, algorithm.version, algorithm.file.sha256))
        return ReferenceError.model_validate(row["reference_error"]) if row else None

    def _store(self, algorithm: Algorithm, error: ReferenceError) -> None:
        # A version re-created with another file (a wiped queue_manager) replaces the row of the old one.
        self.db.run("INSERT INTO monitoring_model_references (model, version, sha256, reference_error) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (model, version) DO UPDATE SET sha256 = EXCLUDED.sha256, "
                    "reference_error = EXCLUDED.reference_error, computed_at = now()",
                    (algorithm.name, algorithm.version, algorithm.file.sha256, Json(error.model_dump(mode="json"))))
        log.info("reference error of %s v%s computed: %s", algorithm.name, algorithm.version, error.source)
