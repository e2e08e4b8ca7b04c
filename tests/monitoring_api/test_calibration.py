"""Calibrated drift thresholds on autocorrelated data: few false alarms, real shifts found, no guess when too small."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conveyor.schemas.monitoring import DriftStatus
from monitoring_api.calibration import (
    Calibration,
    CalibrationCache,
    StatTests,
    calibrate,
    calibration_window,
    reference_key,
    window_calibration,
)
from monitoring_api.drift import decide, feature_statistics

FEATURES = ["a", "b", "c"]
WINDOW = 300
PHI = 0.9  # hourly sensors: consecutive rows are close, a window holds far fewer independent rows than it has


def _ar1(rows: int, seed: int, phi: float = PHI) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shocks = rng.standard_normal((rows, len(FEATURES))) * np.sqrt(1 - phi**2)
    values = np.empty_like(shocks)
    values[0] = rng.standard_normal(len(FEATURES))
    for t in range(1, rows):
        values[t] = phi * values[t - 1] + shocks[t]
    return pd.DataFrame(values * 10 + 100, columns=FEATURES)


REFERENCE = _ar1(6000, seed=1)


def _calibrate(reference: pd.DataFrame, seed: int = 0, window: int = WINDOW) -> Calibration:
    return calibrate(reference, FEATURES, [], window, false_alarm=0.01, blocks=100, seed=seed)


def _fresh_statistics(windows: int = 200) -> list[dict[str, float]]:
    """Undrifted windows of a new stretch of the same process, each against the whole reference."""
    fresh = _ar1(windows * WINDOW, seed=2)
    return [feature_statistics(REFERENCE, fresh.iloc[start:start + WINDOW], FEATURES, [], StatTests())
            for start in range(0, len(fresh), WINDOW)]


def _false_alarms(calibration: Calibration, statistics: list[dict[str, float]]) -> float:
    return sum(decide(calibration, s)[1].detected for s in statistics) / len(statistics)


def test_blocks_in_time_order_hold_the_false_alarm_rate_where_shuffled_rows_do_not() -> None:
    in_order = _calibrate(REFERENCE)
    shuffled = _calibrate(REFERENCE.sample(frac=1, random_state=0).reset_index(drop=True))
    assert in_order.status is DriftStatus.calibrated and set(in_order.thresholds) == set(FEATURES)
    assert in_order.per_feature_alpha == pytest.approx(0.01 / 3)
    statistics = _fresh_statistics()
    # Target 1 % per check; 3 % leaves room for 200 windows' sampling error.
    assert _false_alarms(in_order, statistics) <= 0.03
    # Shuffling forgets the autocorrelation: thresholds fit for independent rows alarm on most windows.
    assert _false_alarms(shuffled, statistics) > 0.5
    assert all(shuffled.thresholds[f] < in_order.thresholds[f] / 2 for f in FEATURES)


def test_a_real_shift_is_detected_on_the_shifted_feature() -> None:
    calibration = _calibrate(REFERENCE)
    found = []
    for seed in range(10, 30):
        window = _ar1(WINDOW, seed=seed)
        window["b"] += 20  # two standard deviations
        features, decision = decide(calibration, feature_statistics(REFERENCE, window, FEATURES, [], StatTests()))
        found.append(decision.detected and decision.features_exceeded == ["b"])
        assert features["b"].threshold == calibration.thresholds["b"] and features["b"].statistic == "wasserstein"
    assert sum(found) >= 19
    assert "b (" in decision.reason and "Bonferroni" in decision.reason


def test_a_reference_too_small_for_the_window_gives_no_decision_and_says_why() -> None:
    calibration = _calibrate(REFERENCE.iloc[:900], window=500)
    assert calibration.status is DriftStatus.uncalibrated and not calibration.thresholds
    assert calibration.reason and "900" in calibration.reason and "2,000" in calibration.reason
    shifted = REFERENCE.iloc[:500] + 1000
    features, decision = decide(calibration, feature_statistics(REFERENCE.iloc[:900], shifted, FEATURES, [],
                                                                StatTests()))
    assert decision.status is DriftStatus.uncalibrated and not decision.detected
    assert decision.reason == calibration.reason
    assert all(f.threshold is None and not f.exceeded and f.value for f in features.values())


def test_a_window_too_short_to_calibrate_at_is_uncalibrated() -> None:
    calibration = window_calibration(CalibrationCache(2), "d", REFERENCE, FEATURES, [], 30, 0.01)
    assert calibration.status is DriftStatus.uncalibrated and calibration.reason and "30 rows" in calibration.reason
    assert calibration_window(30) is None and calibration_window(499) == 450 and calibration_window(500) == 500


def test_calibration_is_deterministic_for_a_seed() -> None:
    assert _calibrate(REFERENCE, seed=3).thresholds == _calibrate(REFERENCE, seed=3).thresholds


def test_categorical_features_are_calibrated_with_their_statistic() -> None:
    frame = REFERENCE.assign(kind=pd.cut(REFERENCE["a"], [0, 95, 105, 200], labels=["low", "mid", "high"]).astype(str))
    calibration = calibrate(frame, ["a"], ["kind"], WINDOW, 0.01, blocks=50)
    assert calibration.statistics == {"a": "wasserstein", "kind": "jensenshannon"}
    assert calibration.thresholds["kind"] > 0 and calibration.per_feature_alpha == pytest.approx(0.005)


def test_the_cache_computes_once_per_reference_and_recomputes_when_it_changes() -> None:
    stattests = StatTests()
    key = reference_key("d", REFERENCE, WINDOW, stattests, 0.01)
    assert key == reference_key("d", REFERENCE.copy(), WINDOW, stattests, 0.01)
    values = REFERENCE.to_numpy().copy()
    values[17, 1] += 0.5
    changed = pd.DataFrame(values, columns=FEATURES)
    assert reference_key("d", changed, WINDOW, stattests, 0.01) != key
    assert reference_key("d", REFERENCE, WINDOW + 50, stattests, 0.01) != key
    assert reference_key("d", REFERENCE, WINDOW, StatTests(numerical="ks"), 0.01) != key
    cache, computed = CalibrationCache(4), []

    def compute() -> Calibration:
        computed.append(1)
        return _calibrate(REFERENCE.iloc[:1500])

    first = cache.get_or_compute(key, compute)
    assert cache.get_or_compute(key, compute) is first and len(computed) == 1
