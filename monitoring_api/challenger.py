"""Champion against challenger on one window of a service's production rows: scores, interval, verdict.

Pure: a frame of rows in, a `ChallengerComparison` out; nothing here talks to a service.

Which rows count. Only the models as currently assigned: rows predicted by another model or version (an
earlier champion or challenger) are left out, and so are rows the two current models predicted in other
roles (before a promotion the new champion predicted as the challenger; after it, its rows start afresh).
- split: the champion's rows are those whose `model_role` is champion (or NULL, rows written before roles
  existed) and whose (model_name, model_version) is the champion; the challenger's are those with role
  challenger and its (name, version). Two samples of different records.
- shadow: rows served by the champion whose shadow_model_name/version is the challenger and which carry a
  shadow prediction (a challenger that failed on a batch left none). Both models predicted every such
  record: one paired sample.

The metric. The deciding metric is MAE for regression and accuracy for classification, both means of a
per-row score (absolute error, correct or not), so the difference of two models is a difference of means
and each row's share of it is known; RMSE and weighted F1 are reported beside them. The difference is
signed so that positive means the challenger is better (champion's MAE minus challenger's; challenger's
accuracy minus champion's).

The interval. A percentile bootstrap at the policy's confidence with a fixed seed (the same rows give the
same answer). Rows are resampled in circular blocks of consecutive rows (in time order), not one by one:
a sensor's errors run in streaks, which resampling single rows ignores and so understates the noise. The
block length follows the rows' own autocorrelation (Politis and White's automatic choice, at least
ceil(n^(1/3))); on independent rows it is short and changes little. Two equal models whose errors are
AR(1) with the demo's phi = 0.61 (500 labelled rows each, 1,000 trials) were called different at 95 % in
18 % of trials when single rows were resampled, in 7-8 % with these blocks (5-6 % on independent rows;
at phi = 0.9, 52 % against 9-10 %). Shadow resamples the paired per-row differences (a record's two
scores stay together, which removes the records' shared difficulty from the noise); split resamples each
model's rows independently. A bootstrap mean is a sum of block sums, so each resample costs one gather
of k = n / b precomputed sums: 2,000 resamples of 5,000 rows take about 15 ms.

The verdict is significant when the interval excludes 0 and each model has at least
`policy.min_labelled_rows` labelled rows (shadow: rows labelled and predicted by both). Otherwise
`rows_needed` estimates the labelled rows still needed per model (split: by the model with fewer of them,
the other gaining rows in the same proportion): the interval's half-width shrinks as 1 / sqrt(n), so
about n x (half-width / |difference|)^2 rows in all would exclude 0, and never fewer than the minimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.challenger import ChallengerComparison, ChallengerVerdict, Difference, ModelScore
from conveyor.schemas.datasets import Task
from conveyor.schemas.services import ChallengerMode, ChallengerPolicy, ModelRole

SEED = 13  # fixed: a comparison of the same rows gives the same interval
MIN_INTERVAL_ROWS = 2  # labelled rows per model at least before an interval is computed
DECIDING = {Task.regression: "mae", Task.classification: "accuracy"}
SPELLED = {"mae": "MAE", "accuracy": "accuracy"}  # the deciding metric as a sentence names it
PREDICTION, LABEL = "prediction", "label"


@dataclass(frozen=True)
class Side:
    """One model's rows in the window: how many it predicted, and its labelled ones in time order."""

    rows: int
    truth: np.ndarray
    predicted: np.ndarray

    @property
    def labelled(self) -> int:
        return len(self.truth)


@dataclass(frozen=True)
class Selection:
    champion: Side
    challenger: Side
    paired: bool


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column of the window, or all missing when the rows do not carry it (older tables, an empty window)."""
    return frame[name] if name in frame else pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _is_model(frame: pd.DataFrame, name_column: str, version_column: str, model: AlgorithmRef) -> pd.Series:
    version = pd.to_numeric(_column(frame, version_column), errors="coerce")
    return (_column(frame, name_column).astype(str) == model.name) & (version == model.version)


def _side(rows: pd.DataFrame, predicted: str) -> Side:
    labelled = rows[rows[LABEL].notna()] if LABEL in rows else rows.iloc[0:0]
    return Side(len(rows), labelled[LABEL].to_numpy() if LABEL in labelled else np.array([]),
                labelled[predicted].to_numpy() if predicted in labelled else np.array([]))


def select(frame: pd.DataFrame, mode: ChallengerMode, champion: AlgorithmRef, challenger: AlgorithmRef) -> Selection:
    """The rows each of the currently assigned models predicted in `frame` (see the module's docstring)."""
    role = _column(frame, "model_role")
    as_champion = (role.isna() | (role.astype(str) == ModelRole.champion.value)) & \
        _is_model(frame, "model_name", "model_version", champion)
    if mode is ChallengerMode.shadow:
        both = frame[as_champion & _is_model(frame, "shadow_model_name", "shadow_model_version", challenger)
                     & _column(frame, "shadow_prediction").notna()]
        return Selection(_side(both, PREDICTION), _side(both, "shadow_prediction"), paired=True)
    as_challenger = (role.astype(str) == ModelRole.challenger.value) & \
        _is_model(frame, "model_name", "model_version", challenger)
    return Selection(_side(frame[as_champion], PREDICTION), _side(frame[as_challenger], PREDICTION), paired=False)


def _classes(truth: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions comparable with ==: numbers as floats (a CSV column with gaps reads 1 as 1.0),
    anything else as text."""
    try:
        return truth.astype(float), predicted.astype(float)
    except (TypeError, ValueError):
        return truth.astype(str), predicted.astype(str)


def scores(task: Task, side: Side) -> np.ndarray:
    """Each labelled row's score, higher is better: minus its absolute error, or 1 when correct."""
    if task is Task.classification:
        truth, predicted = _classes(side.truth, side.predicted)
        return (truth == predicted).astype(float)
    return -np.abs(side.predicted.astype(float) - side.truth.astype(float))


def metrics(task: Task, side: Side) -> dict[str, float | None]:
    if task is Task.classification:
        if not side.labelled:
            return {"accuracy": None, "f1": None}
        truth, predicted = _classes(side.truth, side.predicted)
        f1 = f1_score(truth, predicted, average="weighted", zero_division=0)
        return {"accuracy": float((truth == predicted).mean()), "f1": float(f1)}
    if not side.labelled:
        return {"mae": None, "rmse": None}
    error = side.predicted.astype(float) - side.truth.astype(float)
    return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error**2).mean()))}


def block_length(values: np.ndarray) -> int:
    """The bootstrap's block length for `values` (in time order): Politis and White's automatic choice for
    the circular block bootstrap (2004, as corrected by Patton, Politis and White 2009), never under
    ceil(n^(1/3)) nor over n / 4.

    The longer the rows' errors run in streaks, the longer the blocks must be to keep them: from the
    autocorrelations up to the first run of K insignificant ones (|r| < 2 sqrt(log10(n) / n)), with the
    flat-top window, b = (2 G^2 / D)^(1/3) n^(1/3), G = sum w(k/M) |k| R(k), D = 4/3 (sum w(k/M) R(k))^2."""
    n = len(values)
    floor = max(1, math.ceil(n ** (1 / 3)))
    if n < 8:
        return 1
    x = values.astype(float) - float(values.mean())
    variance = float(x @ x) / n
    if variance <= 0:
        return floor
    run = max(5, math.ceil(math.sqrt(math.log10(n))))
    lags = min(n - 1, math.ceil(math.sqrt(n)) + run)
    acf = np.array([float(x[: n - k] @ x[k:]) / n for k in range(lags + 1)]) / variance
    quiet = np.abs(acf[1:]) < 2 * math.sqrt(math.log10(n) / n)
    m = next((i for i in range(len(quiet) - run + 1) if quiet[i: i + run].all()), lags)
    big_m = min(2 * max(m, 1), lags)
    k = np.arange(-big_m, big_m + 1)
    window = np.where(np.abs(k / big_m) <= 0.5, 1.0, 2 * (1 - np.abs(k / big_m)))
    covariance = acf[np.abs(k)] * variance
    g = float((window * np.abs(k) * covariance).sum())
    d = 4 / 3 * float((window * covariance).sum()) ** 2
    chosen = math.ceil((2 * g**2 / d) ** (1 / 3) * n ** (1 / 3)) if d > 0 else floor
    return int(min(max(floor, chosen), max(1, n // 4)))


def block_means(values: np.ndarray, resamples: int, rng: np.random.Generator, block: int) -> np.ndarray:
    """`resamples` circular block bootstrap means of `values` (in time order) in blocks of `block` rows.

    Each resample is k = ceil(n / b) blocks of b consecutive rows, wrapping around the end, each starting
    anywhere: the mean of k x b rows. The n possible blocks' sums are computed once from a cumulative sum."""
    n, b = len(values), block
    k = math.ceil(n / b)
    wrapped = np.concatenate([values, values[: b - 1]]).astype(float)
    cumulative = np.concatenate([[0.0], np.cumsum(wrapped)])
    sums = cumulative[b: b + n] - cumulative[:n]
    starts = rng.integers(0, n, size=(resamples, k))
    result: np.ndarray = sums[starts].sum(axis=1) / (k * b)
    return result


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    blocks: tuple[int, ...]  # the block length of each resampled series (paired: one)


def interval(champion: np.ndarray, challenger: np.ndarray, paired: bool, confidence: float, resamples: int,
             seed: int = SEED) -> Interval:
    """The percentile interval of mean(challenger) - mean(champion) (per-row scores, higher is better)."""
    rng = np.random.default_rng(seed)
    if paired:
        paired_differences = challenger - champion
        blocks: tuple[int, ...] = (block_length(paired_differences),)
        differences = block_means(paired_differences, resamples, rng, blocks[0])
    else:
        blocks = (block_length(champion), block_length(challenger))
        differences = block_means(challenger, resamples, rng, blocks[1]) - \
            block_means(champion, resamples, rng, blocks[0])
    tail = (1 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1 - tail])
    return Interval(float(low), float(high), blocks)


def rows_needed(labelled: int, value: float | None, low: float | None, high: float | None,
                min_rows: int) -> int | None:
    """Labelled rows still needed per model for the interval to exclude 0 at the current difference."""
    if value is None or low is None or high is None or value == 0:
        return None
    half_width = (high - low) / 2
    more = math.ceil(labelled * (half_width / abs(value)) ** 2) - labelled
    return max(more, min_rows - labelled, 0)


def _method(paired: bool, resamples: int, blocks: tuple[int, ...], seed: int) -> str:
    what = "the paired per-row differences (every record scored by both)" if paired else \
        "each model's rows independently"
    sizes = "" if not blocks else " in blocks of " + (
        f"{blocks[0]} consecutive rows" if paired else
        f"{blocks[0]} (champion) and {blocks[1]} (challenger) consecutive rows")
    return f"percentile interval of a circular block bootstrap of {what}{sizes}, {resamples} resamples, seed {seed}"


def _name(model: AlgorithmRef) -> str:
    return f"{model.name} v{model.version}"


def _figure(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"


def compare(task: Task, mode: ChallengerMode, frame: pd.DataFrame, champion: AlgorithmRef, challenger: AlgorithmRef,
            policy: ChallengerPolicy, resamples: int, *, service: str, dataset: str, at: datetime,
            window_start: datetime | None = None, window_end: datetime | None = None,
            seed: int = SEED) -> ChallengerComparison:
    """The comparison of the two models on `frame` (a window of the service's production rows in time order)."""
    chosen = select(frame, mode, champion, challenger)
    metric = DECIDING[task]
    champion_metrics, challenger_metrics = metrics(task, chosen.champion), metrics(task, chosen.challenger)
    value = low = high = None
    blocks: tuple[int, ...] = ()
    if min(chosen.champion.labelled, chosen.challenger.labelled) >= MIN_INTERVAL_ROWS:
        mine, theirs = scores(task, chosen.champion), scores(task, chosen.challenger)
        value = float(theirs.mean() - mine.mean())
        found = interval(mine, theirs, chosen.paired, policy.confidence, resamples, seed)
        low, high, blocks = found.low, found.high, found.blocks
    fewest = min(chosen.champion.labelled, chosen.challenger.labelled)
    enough = fewest >= policy.min_labelled_rows
    if enough and low is not None and low > 0:
        verdict = ChallengerVerdict.challenger_better
    elif enough and high is not None and high < 0:
        verdict = ChallengerVerdict.challenger_worse
    else:
        verdict = ChallengerVerdict.not_significant
    needed = 0 if verdict is not ChallengerVerdict.not_significant else \
        rows_needed(fewest, value, low, high, policy.min_labelled_rows)
    return ChallengerComparison(
        service=service, dataset=dataset, mode=mode,
        champion=ModelScore(role=ModelRole.champion, model=champion, rows=chosen.champion.rows,
                            labelled_rows=chosen.champion.labelled, metrics=champion_metrics),
        challenger=ModelScore(role=ModelRole.challenger, model=challenger, rows=chosen.challenger.rows,
                              labelled_rows=chosen.challenger.labelled, metrics=challenger_metrics),
        difference=Difference(metric=metric, value=value, low=low, high=high, confidence=policy.confidence,
                              paired=chosen.paired, method=_method(chosen.paired, resamples, blocks, seed)),
        verdict=verdict, rows_needed=needed,
        reason=_reason(verdict, metric, champion, challenger, chosen, champion_metrics[metric],
                       challenger_metrics[metric], value, low, high, policy, needed),
        window_start=window_start, window_end=window_end, at=at)


def _reason(verdict: ChallengerVerdict, metric: str, champion: AlgorithmRef, challenger: AlgorithmRef,
            chosen: Selection, mine: float | None, theirs: float | None, value: float | None, low: float | None,
            high: float | None, policy: ChallengerPolicy, needed: int | None) -> str:
    rows = (f"{chosen.champion.labelled} labelled rows scored by both" if chosen.paired else
            f"{chosen.challenger.labelled} and {chosen.champion.labelled} labelled rows")
    if value is None or low is None or high is None:
        return (f"no verdict yet: the challenger {_name(challenger)} has {chosen.challenger.labelled} labelled "
                f"rows and the champion {_name(champion)} {chosen.champion.labelled} in the window; each needs "
                f"at least {policy.min_labelled_rows} before a verdict")
    level = f"{policy.confidence:.0%}"
    scored = (f"challenger {_name(challenger)} {SPELLED[metric]} {_figure(theirs)} against champion {_name(champion)} "
              f"{_figure(mine)} on {rows}; the {level} interval of the difference (positive: challenger better) "
              f"is {_figure(low)} to {_figure(high)}")
    if verdict is ChallengerVerdict.challenger_better:
        return f"challenger better: {scored}, above 0"
    if verdict is ChallengerVerdict.challenger_worse:
        return f"challenger worse: {scored}, below 0"
    fewest = min(chosen.champion.labelled, chosen.challenger.labelled)
    if fewest < policy.min_labelled_rows:
        why = f"each model needs {policy.min_labelled_rows} labelled rows before a verdict"
    else:
        why = "it includes 0"
    more = "" if needed is None else f"; about {needed} more labelled rows per model would decide it"
    if needed is None:
        more = "; the models score the same, so no number of rows would tell them apart"
    return f"not significant: {scored}; {why}{more}"
