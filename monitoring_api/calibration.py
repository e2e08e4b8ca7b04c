"""Drift thresholds calibrated on the reference itself, at the window size a check uses.

A fixed threshold (Evidently's 0.1 for the normed Wasserstein distance) ignores how much
a window of consecutive, autocorrelated rows varies by itself: 500 hourly sensor rows
hold the information of far fewer independent ones, so ordinary variation reads as drift.
Here the reference is cut into contiguous blocks of the window's size, in time order (so
the autocorrelation is kept), each block is compared with the rest of the reference by
the same Evidently statistic a check computes, and the threshold is set where such
undrifted windows land with the per-feature false-alarm level. The level is the target
per check divided by the number of features (Bonferroni: valid whatever the correlation
between features), so eleven features do not make eleven chances of a false alarm.

Pure: no I/O. `monitoring_api.drift` applies the thresholds.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from conveyor.lru import LRU
from conveyor.schemas.monitoring import DriftStatus

# Fewer non-overlapping windows than this in the reference say too little about how a
# window varies: no decision rather than a guessed threshold.
MIN_WINDOWS = 4
# 100 blocks read the spread of overlapping windows as well as 200 did on the demo data (thresholds within a
# few %), at half the cost.
DEFAULT_BLOCKS = 100
# Bumped when the procedure changes, so cached calibrations of an older one are not reused.
PROCEDURE = "blocks-lognormal-pooledspread-bonferroni-2"


@dataclass(frozen=True)
class StatTests:
    """Which Evidently stattest per column kind (names of evidently.legacy's stattest registry)."""

    numerical: str = "wasserstein"
    categorical: str = "jensenshannon"

    def name(self, categorical: bool) -> str:
        return self.categorical if categorical else self.numerical


@dataclass(frozen=True)
class Calibration:
    status: DriftStatus
    reason: str | None
    window_rows: int
    reference_rows: int
    false_alarm: float
    per_feature_alpha: float
    thresholds: dict[str, float]  # exceeded when the statistic is > the threshold
    statistics: dict[str, str]
    blocks: int
    seconds: float
    method: str


StatisticFn = Callable[[pd.Series, pd.Series], float]


def stattest_function(name: str, categorical: bool) -> StatisticFn:
    """Evidently's own function for a registered stattest: the one its reports run."""
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    kind = ColumnType.Categorical if categorical else ColumnType.Numerical
    func = get_registered_stattest(name, kind).func

    def statistic(reference: pd.Series, current: pd.Series) -> float:
        # The threshold argument only sets Evidently's own verdict, which is not used here.
        score, _ = func(reference, current, kind, 0.0)
        return float(score)

    return statistic


WINDOW_STEP = 50


def calibration_window(rows: int, step: int = WINDOW_STEP) -> int | None:
    """The window size to calibrate `rows` current rows at: rounded down to a multiple of `step`.

    A smaller window varies more, so its threshold is wider: rounding down is conservative,
    and it keeps the number of distinct calibrations (and cache entries) small.
    """
    if rows < step:
        return None
    return rows // step * step


def per_feature_alpha(false_alarm: float, features: int) -> float:
    return false_alarm / max(features, 1)


def block_starts(rows: int, window_rows: int, blocks: int, seed: int) -> np.ndarray:
    """One random start in each of `blocks` equal strata of the possible starts (all of them when fewer)."""
    positions = rows - window_rows + 1
    if positions <= blocks:
        return np.arange(positions)
    edges = np.linspace(0, positions, blocks + 1)
    rng = np.random.default_rng(seed)
    return np.unique(np.floor(edges[:-1] + rng.random(blocks) * np.diff(edges)).astype(int))


def log_spread(values: np.ndarray) -> float | None:
    """The standard deviation of the log of the positive finite values (None: too few to say)."""
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size < 2:
        return None
    return float(np.log(positive).std(ddof=1))


def tail_threshold(values: np.ndarray, alpha: float, spread_floor: float = 0.0) -> float:
    """The statistic's 1 - alpha quantile from a log-normal fitted to the blocks' values.

    A few hundred overlapping blocks hold only about rows/window independent windows,
    far too few to read a quantile like 1 - 0.0009 off them: the tail is extrapolated from a
    log-normal (the distances are positive and right-skewed), its log-spread never below
    `spread_floor`, and the threshold never below the largest value any block reached.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.inf
    spread = log_spread(finite)
    if spread is None or spread == 0:
        return float(finite.max())
    logs = np.log(finite[finite > 0])
    fitted = math.exp(logs.mean() + stats.norm.isf(alpha) * max(spread, spread_floor))
    return float(max(fitted, finite.max()))


def spread_floors(values: dict[str, np.ndarray], names: dict[str, str]) -> dict[str, float]:
    """Per feature, the median log-spread of the features tested by the same statistic.

    Ten-odd independent windows estimate one feature's spread poorly; the shape of a
    distance's distribution varies little between features (their scale does), so a
    feature whose blocks happened to vary little borrows its peers' spread rather than
    getting a threshold too tight to hold the false-alarm rate.
    """
    floors: dict[str, float] = {}
    for name in set(names.values()):
        group = [f for f in values if names[f] == name]
        spreads = [s for f in group if (s := log_spread(values[f])) is not None]
        floor = float(np.median(spreads)) if len(spreads) >= 3 else 0.0
        floors.update(dict.fromkeys(group, floor))
    return floors


def block_statistics(column: pd.Series, window_rows: int, starts: np.ndarray, statistic: StatisticFn) -> np.ndarray:
    """Each block against the reference without it: production windows are not in the reference either."""
    values = column.to_numpy()
    present = column.notna().to_numpy()
    out = np.empty(len(starts))
    for i, start in enumerate(starts):
        end = start + window_rows
        block = values[start:end][present[start:end]]
        rest = np.concatenate([values[:start][present[:start]], values[end:][present[end:]]])
        out[i] = statistic(pd.Series(rest), pd.Series(block)) if len(block) and len(rest) else math.nan
    return out


def _method(stattests: StatTests, blocks: int, window_rows: int, features: int, false_alarm: float) -> str:
    return (f"{blocks} contiguous blocks of {window_rows} reference rows in time order, each against the "
            f"reference without it ({stattests.numerical} for numerical, {stattests.categorical} for categorical "
            f"features); threshold = the 1 - alpha quantile of a log-normal fitted to the blocks' statistics "
            f"(log-spread at least the median of the features' spreads, never below the largest block), "
            f"alpha = {false_alarm:g} / {features} features (Bonferroni)")


def _uncalibrated(reason: str, reference_rows: int, window_rows: int, false_alarm: float, alpha: float,
                  names: dict[str, str], started: float) -> Calibration:
    return Calibration(DriftStatus.uncalibrated, reason, window_rows, reference_rows, false_alarm, alpha, {}, names,
                       0, time.perf_counter() - started, "no calibration: " + reason)


def calibrate(reference: pd.DataFrame, numerical: list[str], categorical: list[str], window_rows: int,
              false_alarm: float, stattests: StatTests = StatTests(), blocks: int = DEFAULT_BLOCKS, seed: int = 0
              ) -> Calibration:
    """Thresholds per feature for windows of `window_rows` rows; `reference` rows in time order."""
    started = time.perf_counter()
    if window_rows < 1:
        raise ValueError("window_rows must be at least 1")
    if not 0 < false_alarm < 1:
        raise ValueError("false_alarm must be between 0 and 1")
    features = [*numerical, *categorical]
    rows = len(reference)
    alpha = per_feature_alpha(false_alarm, len(features))
    names = {feature: stattests.name(feature in categorical) for feature in features}
    if not features:
        return _uncalibrated("no feature to test", rows, window_rows, false_alarm, alpha, names, started)
    needed = MIN_WINDOWS * window_rows
    if rows < needed:
        return _uncalibrated(f"the reference holds {rows:,} rows: at least {needed:,} are needed to calibrate "
                             f"windows of {window_rows:,} rows ({MIN_WINDOWS} windows of that size)",
                             rows, window_rows, false_alarm, alpha, names, started)
    starts = block_starts(rows, window_rows, blocks, seed)
    values = {feature: block_statistics(reference[feature], window_rows, starts,
                                        stattest_function(names[feature], feature in categorical))
              for feature in features}
    floors = spread_floors(values, names)
    thresholds: dict[str, float] = {}
    for feature in features:
        threshold = tail_threshold(values[feature], alpha, floors[feature])
        if math.isfinite(threshold):  # a feature without reference values cannot be tested
            thresholds[feature] = threshold
    return Calibration(DriftStatus.calibrated, None, window_rows, rows, false_alarm, alpha, thresholds, names,
                       len(starts), time.perf_counter() - started,
                       _method(stattests, len(starts), window_rows, len(features), false_alarm))


def reference_key(dataset: str, reference: pd.DataFrame, window_rows: int, stattests: StatTests,
                  false_alarm: float) -> str:
    """The cache key of a calibration: changes when the reference's rows (or their order) change."""
    digest = hashlib.sha256()
    digest.update(repr((PROCEDURE, dataset, list(reference.columns), window_rows, stattests, false_alarm)).encode())
    digest.update(pd.util.hash_pandas_object(reference, index=False).to_numpy().tobytes())
    return digest.hexdigest()


class CalibrationCache:
    """Calibrations by `reference_key`, least recently used out first; built once per process.

    The lock guards the map only: two concurrent misses of one key may both compute (the
    same answer), but a slow calibration never blocks other lookups.
    """

    def __init__(self, size: int) -> None:
        self._lru: LRU[str, Calibration] = LRU(size)
        self._lock = threading.Lock()

    def get(self, key: str) -> Calibration | None:
        with self._lock:
            return self._lru.get(key)

    def get_or_compute(self, key: str, compute: Callable[[], Calibration]) -> Calibration:
        found = self.get(key)
        if found is not None:
            return found
        calibration = compute()
        with self._lock:
            self._lru.put(key, calibration)
        return calibration


def window_calibration(cache: CalibrationCache, dataset: str, reference: pd.DataFrame, numerical: list[str],
                       categorical: list[str], current_rows: int, false_alarm: float,
                       stattests: StatTests = StatTests()) -> Calibration:
    """The calibration a window of `current_rows` rows is decided with, computed once per reference and size."""
    window = calibration_window(current_rows)
    features = [*numerical, *categorical]
    if window is None:
        names = {feature: stattests.name(feature in categorical) for feature in features}
        return _uncalibrated(f"the current window holds {current_rows:,} rows: at least {WINDOW_STEP} are needed to "
                             "decide on drift", len(reference), current_rows, false_alarm,
                             per_feature_alpha(false_alarm, len(features)), names, time.perf_counter())
    rows = reference[features]
    key = reference_key(dataset, rows, window, stattests, false_alarm)
    return cache.get_or_compute(key, lambda: calibrate(rows, numerical, categorical, window, false_alarm, stattests))
