"""Performance verdicts beyond the window's sampling noise (pure: no service)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from conveyor.schemas.datasets import DatasetSchema, Feature, FeatureType, Task
from conveyor.schemas.monitoring import Metrics, PerformanceVerdict, ReferenceError
from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_FEATURES, demo_splits, demo_stream
from monitoring_api.estimation import fit_loss_estimator
from monitoring_api.model_reference import ModelReference
from monitoring_api.performance import (
    BATCHES,
    batches,
    estimate_parts,
    realized_batches,
    realized_metrics,
    sampling_bound,
    verdict,
)
from monitoring_api.settings import Settings

SETTINGS = Settings()  # tolerance 15 %, at least 100 rows
CLASSES = DatasetSchema(name="c", task=Task.classification, features=[Feature(name="x", type=FeatureType.float)],
                        target="y")


def _ar1(rows: int, phi: float, seed: int) -> np.ndarray:
    """Errors that run in streaks, as the demo's quality noise does (AR(1) 0.61)."""
    rng = np.random.default_rng(seed)
    out = np.empty(rows)
    out[0] = rng.standard_normal()
    for t in range(1, rows):
        out[t] = phi * out[t - 1] + np.sqrt(1 - phi**2) * rng.standard_normal()
    return out * 20


def _window(errors: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"prediction": 300 + errors, "label": 300.0})


def _reference(**figures: float) -> ReferenceError:
    return ReferenceError(model="m", version=1, source="test", rows=1000, **figures)


def _verdict(metric: str, window: pd.DataFrame, reference: ReferenceError, schema: DatasetSchema = DEMO_DATASET,
             settings: Settings = SETTINGS) -> PerformanceVerdict:
    return verdict(metric, realized_metrics(schema, window), reference, settings, False, "none", "",
                   realized_batches(schema, window))


def test_an_autocorrelated_undrifted_window_past_the_limit_stays_quiet() -> None:
    window = _window(_ar1(500, 0.61, seed=3))
    mae = realized_metrics(DEMO_DATASET, window).mae
    assert mae is not None
    # Sampling alone puts 500 such rows 17 % over the reference now and then (the demo's 99th percentile):
    # past the 15 % tolerance, not past it by more than the window's own noise.
    v = _verdict("mae", window, _reference(mae=mae / 1.17))
    assert v.decided and v.value is not None and v.limit is not None and v.value > v.limit
    assert not v.degraded and v.bound is not None and v.bound < v.limit, v.reason
    assert "within its sampling noise" in v.reason


def test_a_window_30_percent_worse_is_degraded_and_the_reason_names_the_bound() -> None:
    window = _window(_ar1(500, 0.61, seed=3))
    fine = realized_metrics(DEMO_DATASET, window)
    assert fine.mae is not None and fine.rmse is not None
    reference = _reference(mae=fine.mae / 1.3, rmse=fine.rmse / 1.3)
    for metric in ("mae", "rmse"):
        v = _verdict(metric, window, reference)
        assert v.degraded and v.bound is not None and v.limit is not None and v.value is not None, v.reason
        assert v.limit < v.bound < v.value, v.reason
        assert f"its 95% lower bound {v.bound:.4g}" in v.reason, v.reason
        assert f"is above the limit {v.limit:.4g} = reference {getattr(reference, metric):.4g} + 15%" in v.reason


def test_the_bound_comes_from_batch_means_in_time_order() -> None:
    errors = _ar1(500, 0.61, seed=4)
    window = _window(errors)
    parts = realized_batches(DEMO_DATASET, window)
    assert len(parts) == BATCHES and sum(p.rows for p in parts) == 500
    means = np.abs(errors).reshape(BATCHES, 50).mean(axis=1)
    t95 = 1.9304  # Student's t, one-sided 95 %, 2 x 9^2 / 26 = 6.23 degrees of freedom

    def se(figures: np.ndarray) -> float:  # from successive differences
        return float(np.sqrt((np.diff(figures) ** 2).sum() / (2 * (BATCHES - 1)) / BATCHES))

    expected = np.abs(errors).mean() - t95 * se(means)
    bound = sampling_bound("mae", float(np.abs(errors).mean()), parts)
    assert bound is not None and bound.value == pytest.approx(expected, rel=1e-3)
    squares = (errors**2).reshape(BATCHES, 50).mean(axis=1)
    rmse = sampling_bound("rmse", float(np.sqrt((errors**2).mean())), parts)
    root = np.sqrt((errors**2).mean() - t95 * se(squares))
    assert rmse is not None and rmse.value == pytest.approx(root, rel=1e-3)
    # Shuffling the rows breaks the streaks: the batches then spread less, and the bound is tighter.
    shuffled = window.sample(frac=1, random_state=0)
    loose = sampling_bound("mae", float(np.abs(errors).mean()), realized_batches(DEMO_DATASET, shuffled))
    assert loose is not None and loose.value > bound.value


def test_a_fault_halfway_through_the_window_is_degraded() -> None:
    errors = _ar1(500, 0.61, seed=7)
    window = _window(np.concatenate([errors[:250], errors[250:] * 1.8]))  # MAE x 1.4, from two levels
    v = _verdict("mae", window, _reference(mae=float(np.abs(errors).mean())))
    assert v.degraded, v.reason


def test_batches_are_contiguous_and_at_least_20_rows() -> None:
    frame = pd.DataFrame({"n": range(105)})
    parts = batches(frame)
    assert len(parts) == 5 and all(len(p) >= 20 for p in parts)
    assert pd.concat(parts)["n"].tolist() == list(range(105))
    assert len(batches(pd.DataFrame({"n": range(2000)}))) == BATCHES
    assert batches(pd.DataFrame({"n": range(39)})) == []


def test_fewer_rows_than_two_batches_give_no_verdict() -> None:
    window = _window(_ar1(30, 0.61, seed=5) * 3)
    v = _verdict("mae", window, _reference(mae=1.0), settings=Settings(performance_min_rows=10))  # MAE ~ 48
    assert not v.decided and not v.degraded and "sampling noise cannot be measured" in v.reason, v.reason


def test_accuracy_is_judged_by_its_upper_bound() -> None:
    rng = np.random.default_rng(6)
    truth = rng.integers(0, 2, 400)
    wrong = rng.random(400) < 0.4  # 60 % correct against a reference of 90 %
    window = pd.DataFrame({"label": truth, "prediction": np.where(wrong, 1 - truth, truth)})
    reference = _reference(accuracy=0.9, f1=0.9)
    for metric in ("accuracy", "f1"):
        v = _verdict(metric, window, reference, schema=CLASSES)
        assert v.degraded and v.bound is not None and v.limit is not None, v.reason
        assert v.value is not None and v.value < v.bound < v.limit and "upper bound" in v.reason, v.reason
        assert "- 15%" in v.reason
    accuracy = float((window["label"] == window["prediction"]).mean())
    near = _verdict("accuracy", window, _reference(accuracy=accuracy / 0.83), schema=CLASSES)  # 2 % past the limit
    assert near.value is not None and near.limit is not None and near.value < near.limit
    assert not near.degraded, near.reason


def test_the_estimate_is_judged_on_the_estimates_of_the_same_batches() -> None:
    training, testing = demo_splits(rows=2500, seed=1)
    model = LinearRegression().fit(training[DEMO_FEATURES], training["quality"])
    holdout = model.predict(testing[DEMO_FEATURES])
    estimator = fit_loss_estimator(testing[DEMO_FEATURES], holdout, testing["quality"].to_numpy())
    reference = ModelReference(_reference(mae=20.0, rmse=25.0), estimator, schema=DEMO_DATASET)
    stream = demo_stream(300, seed=2, after_rows=2500)
    window = stream[DEMO_FEATURES].assign(prediction=model.predict(stream[DEMO_FEATURES]))
    whole, parts = reference.estimate(window), estimate_parts(reference, window)
    assert whole.method == "DLE" and len(parts) == BATCHES and sum(p.rows for p in parts) == 300
    assert whole.mae == pytest.approx(np.average([p.mae or 0 for p in parts], weights=[p.rows for p in parts]))
    v = verdict("mae", whole, reference.reference_error, SETTINGS, True, "none", "", parts)
    assert v.decided and v.estimated and v.bound is not None and v.bound < (whole.mae or 0), v.reason
    # Past the limit with no batches to measure the noise: no verdict; within it, none is needed.
    assert verdict("mae", Metrics(rows=300, mae=30.0), reference.reference_error, SETTINGS, True, "none", "",
                   ()).decided is False
    within = verdict("mae", Metrics(rows=300, mae=21.0), reference.reference_error, SETTINGS, True, "none", "", ())
    assert within.decided and not within.degraded and within.bound is None and "is not above the limit" in within.reason
