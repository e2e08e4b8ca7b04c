"""A window's drift decision: Evidently's statistic per feature against its calibrated threshold.

Pure: the statistics are the functions of Evidently's stattest registry (the ones its
reports and `monitoring_api.calibration` run), the thresholds come from a `Calibration`.
"""

from __future__ import annotations

import math

import pandas as pd

from conveyor.schemas.monitoring import DriftDecision, DriftStatus, FeatureDrift
from monitoring_api.calibration import Calibration, StatTests, stattest_function


def feature_statistics(reference: pd.DataFrame, current: pd.DataFrame, numerical: list[str],
                       categorical: list[str], stattests: StatTests) -> dict[str, float]:
    """Each feature's statistic of the current window against the reference (NaN: no values to compare)."""
    values: dict[str, float] = {}
    for feature in [*numerical, *categorical]:
        is_categorical = feature in categorical
        ref, cur = reference[feature].dropna(), current[feature].dropna()
        if ref.empty or cur.empty:
            values[feature] = math.nan
            continue
        values[feature] = stattest_function(stattests.name(is_categorical), is_categorical)(ref, cur)
    return values


def _value(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def decide(calibration: Calibration, statistics: dict[str, float]) -> tuple[dict[str, FeatureDrift], DriftDecision]:
    """Per feature: exceeded when the statistic is above its calibrated threshold; drift when any is."""
    calibrated = calibration.status is DriftStatus.calibrated
    features: dict[str, FeatureDrift] = {}
    for name, raw in statistics.items():
        value = _value(raw)
        threshold = calibration.thresholds.get(name) if calibrated else None
        features[name] = FeatureDrift(
            statistic=calibration.statistics.get(name, ""), value=value, threshold=threshold,
            exceeded=value is not None and threshold is not None and value > threshold)
    tested = [name for name, f in features.items() if f.value is not None and f.threshold is not None]
    exceeded = [name for name in tested if features[name].exceeded]
    if calibrated:
        status, reason = DriftStatus.calibrated, _reason(calibration, tested, exceeded, features)
    else:
        status, reason = calibration.status, calibration.reason or "not calibrated"
    return features, DriftDecision(
        status=status, detected=calibrated and bool(exceeded), reason=reason, false_alarm=calibration.false_alarm,
        per_feature_alpha=calibration.per_feature_alpha, features_tested=len(tested), features_exceeded=exceeded,
        window_rows=calibration.window_rows, reference_rows=calibration.reference_rows)


def _reason(calibration: Calibration, tested: list[str], exceeded: list[str],
            features: dict[str, FeatureDrift]) -> str:
    correction = (f"each of the {len(calibration.thresholds)} features at {calibration.per_feature_alpha:.2g} "
                  f"(Bonferroni) for a {calibration.false_alarm:g} false-alarm probability per check, thresholds "
                  f"calibrated on {calibration.reference_rows:,} reference rows at windows of "
                  f"{calibration.window_rows:,} rows")
    if not exceeded:
        return f"no drift: none of the {len(tested)} features tested exceeds its threshold ({correction})"
    over = ", ".join(f"{name} ({features[name].value:.3g} > {features[name].threshold:.3g})" for name in exceeded)
    return f"drift: {len(exceeded)} of {len(tested)} features exceed their thresholds: {over} ({correction})"
