"""Performance verdicts: a window's metrics against the model's own error, beyond the window's sampling noise.

A check compares the task's metrics on its window (MAE/RMSE, accuracy/F1) with the model's reference error
and says `degraded` when the window is worse than the limit, reference x (1 +/- tolerance), by more than
its own sampling noise: the one-sided CONFIDENCE bound of the metric (lower for an error, upper for a
score) must lie past the limit, not only the value. The bound comes from batch means: the window's rows,
in time order (ml_data_api answers windows ordered by timestamp), cut into up to BATCHES contiguous
batches of at least MIN_BATCH_ROWS rows; the metric's variation from batch to batch gives its standard
error (see `sampling_bound`). Contiguous batches keep the rows' autocorrelation (a sensor's errors run in
streaks), which a per-row standard error would ignore and so understate the noise. MAE uses the batches'
mean absolute error, RMSE their mean squared error (the bound's square root), accuracy their share of
correct rows, F1 each batch's own F1 (an approximation: F1 is not a mean). The estimate (DLE, CBPE) is
judged the same way on the estimates of the same batches, computed only when the estimate is past the
limit. MONITORING_MAE_THRESHOLD / R2_THRESHOLD stay plain absolute limits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import f1_score

from conveyor.api.errors import ConveyorError
from conveyor.clients import APIUnavailable
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.datasets import DatasetSchema, Task
from conveyor.schemas.monitoring import Estimate, Metrics, PerformanceVerdict, ReferenceError
from conveyor.training.metrics import classification_scores
from monitoring_api.model_reference import ModelReference, ModelReferences
from monitoring_api.service import LABEL, PREDICTION
from monitoring_api.settings import Settings

log = logging.getLogger(__name__)
# The metrics a verdict compares, per task; errors degrade upwards, scores downwards.
VERDICT_METRICS = {Task.regression: ("mae", "rmse"), Task.classification: ("accuracy", "f1")}
ERRORS = frozenset({"mae", "rmse"})
# One-sided confidence that a degraded window is worse than the limit, not just unlucky. 95 %: on undrifted
# demo windows of 500 rows (AR(1) errors) against a reference scored on 800 testing rows, the tolerance alone
# flagged 65 of 600, the bound 1, while the demo's sensor fault (MAE x 1.8) is still flagged in every window;
# a lower level flags sooner and more often by chance (one knob, the tolerance, is what users tune).
CONFIDENCE = 0.95
BATCHES = 10  # batches per window at most: enough for a standard error, each long enough to hold a streak
MIN_BATCH_ROWS = 20  # rows per batch at least (a 100-row window gives 5 batches of 20)


@dataclass(frozen=True)
class Bound:
    """How far sampling alone could have moved a window's metric (one-sided, at CONFIDENCE)."""

    value: float  # lower bound of an error, upper bound of a score
    batches: int
    batch_rows: int  # rows of the smallest batch


def batches(rows: pd.DataFrame) -> list[pd.DataFrame]:
    """`rows` (in time order) as contiguous batches: min(BATCHES, rows // MIN_BATCH_ROWS) of them, or none."""
    count = min(BATCHES, len(rows) // MIN_BATCH_ROWS)
    if count < 2:
        return []
    edges = np.linspace(0, len(rows), count + 1).round().astype(int)
    return [rows.iloc[start:end] for start, end in zip(edges[:-1], edges[1:], strict=True)]


def realized_metrics(schema: DatasetSchema, labeled: pd.DataFrame) -> Metrics:
    if labeled.empty:
        return Metrics(rows=0)
    if schema.task is Task.classification:
        scores = classification_scores(None, labeled.iloc[:, :0], labeled[LABEL], labeled[PREDICTION].to_numpy())
        return Metrics(rows=len(labeled), accuracy=scores["Accuracy"], f1=scores["F1"])
    truth = labeled[LABEL].to_numpy(dtype=float)
    error = labeled[PREDICTION].to_numpy(dtype=float) - truth
    spread = ((truth - truth.mean()) ** 2).sum()
    return Metrics(rows=len(labeled), mae=float(np.abs(error).mean()), rmse=float(np.sqrt((error**2).mean())),
                   r2=float(1 - (error**2).sum() / spread) if spread > 0 else None)


def realized_batches(schema: DatasetSchema, labeled: pd.DataFrame) -> list[Metrics]:
    """The metrics of each contiguous batch of the labelled rows (F1 over the window's classes)."""
    parts = batches(labeled)
    if schema.task is not Task.classification:
        return [realized_metrics(schema, part) for part in parts]
    classes = np.unique(np.concatenate([labeled[LABEL].to_numpy(), labeled[PREDICTION].to_numpy()]))
    # As classification_scores does for the whole window: binary with the last class positive, else weighted.
    average = "binary" if len(classes) == 2 else "weighted"
    positive = {"pos_label": classes[-1]} if average == "binary" else {}
    found = []
    for part in parts:
        truth, predicted = part[LABEL].to_numpy(), part[PREDICTION].to_numpy()
        f1 = f1_score(truth, predicted, labels=classes, average=average, zero_division=0, **positive)
        found.append(Metrics(rows=len(part), accuracy=float((truth == predicted).mean()), f1=float(f1)))
    return found


def sampling_bound(metric: str, value: float, parts: Sequence[Metrics],
                   confidence: float = CONFIDENCE) -> Bound | None:
    """The one-sided bound of `value` from the batches' `metric`; None under 2 batches.

    The batches' variance is taken from their successive differences (von Neumann's mean square successive
    difference), not from their spread about the mean: a window the fault reached halfway through holds two
    levels of error, which inflate the spread (and so would delay the alert) but make only one large
    difference. On steady rows both estimate the same variance; the successive one has fewer degrees of
    freedom, 2(k-1)^2/(3k-4) for k batches (6.2 for 10), which Student's t accounts for."""
    squared = metric == "rmse"  # RMSE's batches are averaged as mean squared errors
    found = [(getattr(p, metric), p.rows) for p in parts if getattr(p, metric) is not None]
    k = len(found)
    if k < 2:
        return None
    figures = np.array([v**2 if squared else v for v, _ in found], dtype=float)
    variance = float((np.diff(figures) ** 2).sum() / (2 * (k - 1)))
    freedom = 2 * (k - 1) ** 2 / (3 * k - 4)
    spread = float(stats.t.ppf(confidence, freedom)) * np.sqrt(variance / k)
    centre = value**2 if squared else value
    bound = centre - spread if metric in ERRORS else centre + spread
    if squared:
        bound = float(np.sqrt(max(bound, 0.0)))
    return Bound(value=float(bound), batches=k, batch_rows=min(rows for _, rows in found))


def verdict(metric: str, metrics: Metrics | None, reference: ReferenceError | None, settings: Settings,
            estimated: bool, no_value: str, no_reference: str, parts: Sequence[Metrics] = ()
            ) -> PerformanceVerdict:
    """One metric of the window against the model's reference error, or why there is no verdict.

    `parts`: the same metric on the window's contiguous batches (`realized_batches`, `estimate_parts`), from
    which the sampling bound comes (needed only when the value is past the limit)."""
    value = getattr(metrics, metric) if metrics else None
    base = getattr(reference, metric) if reference else None
    what = f"estimated {metric.upper()}" if estimated else f"{metric.upper()} on labelled rows"
    rows = metrics.rows if metrics else 0

    def undecided(reason: str) -> PerformanceVerdict:
        return PerformanceVerdict(metric=metric, value=value, reference=base, limit=None, degraded=False,
                                  estimated=estimated, decided=False, reason=reason)

    if metrics is None or value is None:
        return undecided(no_value)
    if base is None:
        return undecided(no_reference or f"no reference {metric.upper()} for the model: {what} is not compared")
    if rows < settings.performance_min_rows:
        return undecided(f"{what}: {rows} rows, at least {settings.performance_min_rows} are needed for a verdict")
    tolerance = settings.performance_tolerance
    bound = sampling_bound(metric, value, parts)
    if bound is None and past_limit(metric, value, base, tolerance):
        return undecided(f"{what} {value:.4g} over {rows} rows is past the limit, but its sampling noise cannot be "
                         f"measured (fewer than 2 batches of {MIN_BATCH_ROWS} rows)")
    return judged(metric, value, base, bound, rows, what, tolerance, estimated)


def limit_of(metric: str, base: float, tolerance: float) -> float:
    return base * (1 + tolerance) if metric in ERRORS else base * (1 - tolerance)


def past_limit(metric: str, value: float, base: float, tolerance: float) -> bool:
    limit = limit_of(metric, base, tolerance)
    return value > limit if metric in ERRORS else value < limit


def judged(metric: str, value: float, base: float, bound: Bound | None, rows: int, what: str, tolerance: float,
           estimated: bool) -> PerformanceVerdict:
    """Degraded when the bound lies past the limit (no bound: the value is within it); the reason gives the
    value, its bound, the limit and the reference."""
    error = metric in ERRORS
    limit = limit_of(metric, base, tolerance)
    degraded = bound is not None and past_limit(metric, bound.value, base, tolerance)
    side, past = ("lower", "above") if error else ("upper", "below")
    change = (value - base) / base if base else 0.0
    said = f"{what} {value:.4g} over {rows} rows ({change:+.0%} on the reference)"
    if bound is not None:
        said += (f", its {CONFIDENCE:.0%} {side} bound {bound.value:.4g} (from {bound.batches} batches of "
                 f"{bound.batch_rows}+ rows in time order),")
    noise = " (within its sampling noise)" if not degraded and past_limit(metric, value, base, tolerance) else ""
    reason = (f"{said} is {'' if degraded else 'not '}{past} the limit {limit:.4g} = reference {base:.4g} "
              f"{'+' if error else '-'} {tolerance:.0%}{noise}")
    return PerformanceVerdict(metric=metric, value=value, reference=base, limit=limit, degraded=degraded,
                              estimated=estimated, decided=True, reason=reason,
                              bound=bound.value if bound else None)


def absolute_verdicts(realized: Metrics | None, settings: Settings) -> list[PerformanceVerdict]:
    """MONITORING_MAE_THRESHOLD / R2_THRESHOLD, when set: fixed limits on the labelled rows."""
    found = []
    for metric, limit in (("mae", settings.mae_threshold), ("r2", settings.r2_threshold)):
        value = getattr(realized, metric) if realized else None
        if limit is None or value is None:
            continue
        degraded = value > limit if metric == "mae" else value < limit
        side = "above" if metric == "mae" else "below"
        found.append(PerformanceVerdict(
            metric=metric, value=value, reference=None, limit=limit, degraded=degraded, estimated=False,
            reason=f"{metric.upper()} {value:.4g} {side if degraded else 'within'} the absolute threshold {limit:g}"))
    return found


@dataclass
class Assessment:
    """What a check says about the service's current model version."""

    rows_labeled: int = 0
    model: str | None = None
    model_version: int | None = None
    realized: Metrics | None = None
    estimated: Estimate | None = None
    reference_error: ReferenceError | None = None
    performance: list[PerformanceVerdict] = field(default_factory=list)
    rows_other_models: int = 0


def _labeled(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows[LABEL].notna()] if LABEL in rows else rows.iloc[0:0]


def own_rows(current: pd.DataFrame, algorithm: AlgorithmRef) -> pd.DataFrame:
    """The window's rows the service's current version predicted: an older version's or a challenger's rows
    say nothing about its error."""
    if not {"model_name", "model_version"} <= set(current.columns):
        return current
    return current[(current["model_name"] == algorithm.name) & (current["model_version"] == algorithm.version)]


async def assess(schema: DatasetSchema, algorithm: AlgorithmRef | None, current: pd.DataFrame,
                 models: ModelReferences, settings: Settings) -> Assessment:
    """Realized and estimated metrics of the service's current version, and their verdicts."""
    found = Assessment(rows_labeled=len(_labeled(current)))
    if algorithm is None:
        found.realized = realized_metrics(schema, _labeled(current))
        found.performance = absolute_verdicts(found.realized, settings)
        return found
    found.model, found.model_version = algorithm.name, algorithm.version
    ours = own_rows(current, algorithm)
    found.rows_other_models = len(current) - len(ours)
    labeled = _labeled(ours)
    found.realized = realized_metrics(schema, labeled)
    reference: ModelReference | None = None
    missing = ""
    try:
        reference = await models.get(schema, algorithm)
    except (ConveyorError, APIUnavailable) as exc:  # an unreachable peer: no verdict this time, drift still counts
        missing = f"no reference error for {algorithm.name} v{algorithm.version}: {exc}"
    estimated_parts: list[Estimate] = []
    if reference is not None:
        found.reference_error = reference.reference_error
        found.estimated, estimated_parts = await _estimate(reference, ours, algorithm, VERDICT_METRICS[schema.task],
                                                           settings.performance_tolerance)
    no_labels = f"no labelled row of {algorithm.name} v{algorithm.version} in the window yet"
    no_estimate = found.estimated.reason if found.estimated and found.estimated.reason else missing
    realized_parts = realized_batches(schema, labeled)
    metrics = VERDICT_METRICS[schema.task]
    found.performance = [
        *(verdict(m, found.realized, found.reference_error, settings, False, no_labels, missing, realized_parts)
          for m in metrics),
        *(verdict(m, found.estimated, found.reference_error, settings, True, no_estimate or "no estimate", missing,
                  estimated_parts) for m in metrics),
        *absolute_verdicts(found.realized, settings),
    ]
    if found.rows_other_models:
        left_out = (f"; {found.rows_other_models} rows of the window predicted by another model or version "
                    f"are left out")
        found.performance = [v.model_copy(update={"reason": v.reason + left_out}) for v in found.performance]
    return found


def estimate_parts(reference: ModelReference, rows: pd.DataFrame) -> list[Estimate]:
    """The estimate of each contiguous batch of the window (CPU work: call it off the event loop)."""
    return [part for batch in batches(rows) if (part := reference.estimate(batch)).method is not None]


async def _estimate(reference: ModelReference, rows: pd.DataFrame, algorithm: AlgorithmRef,
                    metrics: Sequence[str], tolerance: float) -> tuple[Estimate, list[Estimate]]:
    """The window's estimate, and its batches' when a metric is past the limit (only then is a bound needed:
    ten more estimates cost ten times the one)."""
    name, version = algorithm.name, algorithm.version
    if rows.empty:
        return Estimate(method=None, reason=f"no row of the window was predicted by {name} v{version}"), []
    try:
        whole = await asyncio.to_thread(reference.estimate, rows)
        base = reference.reference_error
        if not any(past_limit(m, v, b, tolerance) for m in metrics
                   if (v := getattr(whole, m)) is not None and (b := getattr(base, m)) is not None):
            return whole, []
        return whole, await asyncio.to_thread(estimate_parts, reference, rows)
    except Exception as exc:  # the estimate is advisory: its failure must not cost the check its drift verdict
        log.exception("estimating the error of %s v%s failed", name, version)
        return Estimate(method=None, reason=f"the estimate failed: {exc}"), []
