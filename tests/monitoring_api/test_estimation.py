"""Performance estimation before labels (pure logic): DLE on a case with a known error, CBPE on a calibrated
classifier, and the sentence when a model gives no probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.svm import LinearSVC

from monitoring_api.estimation import (
    CBPE,
    DLE,
    MIN_REFERENCE_ROWS,
    NotEnoughRows,
    confidence_estimate,
    fit_confidence_estimator,
    fit_loss_estimator,
    no_probabilities,
)


def noisy(rng: np.random.Generator, rows: int, low: float = 0.0, high: float = 10.0) -> tuple[pd.DataFrame, np.ndarray]:
    """y = 3x + z + noise whose sd grows with x: the model's error is known to depend on where x lies."""
    x = rng.uniform(low, high, rows)
    z = rng.normal(size=rows)
    mode = rng.choice(["a", "b"], size=rows)
    y = 3 * x + z + rng.normal(scale=0.2 + 0.3 * x, size=rows)
    return pd.DataFrame({"x": x, "z": z, "mode": mode}), y


@pytest.fixture(scope="module")
def fitted() -> tuple[LinearRegression, object]:
    rng = np.random.default_rng(1)
    train_x, train_y = noisy(rng, 3000)
    model = LinearRegression().fit(train_x[["x", "z"]], train_y)
    reference_x, reference_y = noisy(rng, 3000)
    estimator = fit_loss_estimator(reference_x, model.predict(reference_x[["x", "z"]]), reference_y)
    return model, estimator


def realized(model: LinearRegression, x: pd.DataFrame, y: np.ndarray) -> tuple[float, float]:
    error = model.predict(x[["x", "z"]]) - y
    return float(np.abs(error).mean()), float(np.sqrt((error**2).mean()))


def test_dle_matches_the_realized_error_on_fresh_undrifted_rows(fitted: tuple) -> None:
    model, estimator = fitted
    rng = np.random.default_rng(7)
    # Windows of 4,000 rows: the realized MAE of a smaller one wanders by itself (about 6 % at 1,000 rows
    # here, the noise being large where x is), which would test the sample, not the estimator.
    for _ in range(3):
        x, y = noisy(rng, 4000)
        estimate = estimator.estimate(x, model.predict(x[["x", "z"]]))
        mae, rmse = realized(model, x, y)
        assert estimate.method == DLE and estimate.rows == 4000 and "no concept drift" in (estimate.reason or "")
        assert estimate.mae is not None and estimate.rmse is not None
        assert abs(estimate.mae - mae) / mae < 0.05, (estimate, mae)
        assert abs(estimate.rmse - rmse) / rmse < 0.05, (estimate, rmse)


def test_dle_tracks_a_window_from_the_high_noise_region(fitted: tuple) -> None:
    model, estimator = fitted
    rng = np.random.default_rng(8)
    calm_x, calm_y = noisy(rng, 800, 0, 3)
    loud_x, loud_y = noisy(rng, 800, 7, 10)
    calm = estimator.estimate(calm_x, model.predict(calm_x[["x", "z"]]))
    loud = estimator.estimate(loud_x, model.predict(loud_x[["x", "z"]]))
    calm_mae, _ = realized(model, calm_x, calm_y)
    loud_mae, _ = realized(model, loud_x, loud_y)
    assert loud_mae > 3 * calm_mae  # the case is what it claims
    assert abs(loud.mae - loud_mae) / loud_mae < 0.10 and abs(calm.mae - calm_mae) / calm_mae < 0.15


def test_dle_answers_a_bad_window_with_a_reason_not_an_exception(fitted: tuple) -> None:
    model, estimator = fitted
    x, _ = noisy(np.random.default_rng(9), 50)
    lacking = estimator.estimate(x.drop(columns=["mode"]), model.predict(x[["x", "z"]]))
    assert lacking.method is None and "mode" in (lacking.reason or "")
    empty = estimator.estimate(x, np.full(len(x), np.nan))
    assert empty.method is None and "no rows with a prediction" in (empty.reason or "")
    unseen = estimator.estimate(x.assign(mode="never seen"), model.predict(x[["x", "z"]]))
    assert unseen.method == DLE and unseen.mae is not None and unseen.mae >= 0


def test_too_few_reference_rows_give_no_estimator() -> None:
    x, y = noisy(np.random.default_rng(2), MIN_REFERENCE_ROWS - 1)
    with pytest.raises(NotEnoughRows, match=f"at least {MIN_REFERENCE_ROWS}"):
        fit_loss_estimator(x, y + 1, y)


def test_cbpe_matches_a_calibrated_binary_classifier() -> None:
    rng = np.random.default_rng(3)
    # Calibrated by construction: each row's true class is drawn from the probability the model states.
    p1 = rng.beta(2, 2, 20000)
    truth = rng.uniform(size=p1.size) < p1
    estimate = confidence_estimate(np.column_stack([1 - p1, p1]), [0, 1])
    predicted = p1 > 0.5
    tp = (predicted & truth).sum()
    f1 = 2 * tp / (2 * tp + (predicted & ~truth).sum() + (~predicted & truth).sum())
    assert estimate.method == CBPE and estimate.rows == p1.size
    assert estimate.accuracy == pytest.approx((predicted == truth).mean(), abs=0.01)
    assert estimate.f1 == pytest.approx(f1, abs=0.01)


def test_cbpe_weighted_f1_on_three_classes() -> None:
    rng = np.random.default_rng(4)
    p = rng.dirichlet([1.0, 2.0, 3.0], 20000)
    truth = np.array([rng.choice(3, p=row) for row in p])
    predicted = p.argmax(axis=1)
    estimate = confidence_estimate(p, ["a", "b", "c"])
    per_class, support = [], []
    for c in range(3):
        tp = ((predicted == c) & (truth == c)).sum()
        per_class.append(2 * tp / (2 * tp + ((predicted == c) & (truth != c)).sum()
                                   + ((predicted != c) & (truth == c)).sum()))
        support.append((truth == c).sum())
    assert estimate.accuracy == pytest.approx((predicted == truth).mean(), abs=0.01)
    assert estimate.f1 == pytest.approx(np.average(per_class, weights=support), abs=0.01)


def test_cbpe_refuses_probabilities_that_do_not_fit_the_classes() -> None:
    estimate = confidence_estimate(np.full((5, 3), 1 / 3), [0, 1])
    assert estimate.method is None and "2 classes" in (estimate.reason or "")


def test_a_model_without_probabilities_is_named_in_the_reason() -> None:
    x = np.random.default_rng(5).normal(size=(40, 2))
    model = LinearSVC(dual=False).fit(x, x[:, 0] > 0)
    assert not hasattr(model, "predict_proba")
    assert no_probabilities(model).startswith("the model gives no probabilities: LinearSVC")


class Overconfident:
    """A classifier whose probabilities are sharper than the truth: P(1|x) = sigmoid(x), it says sigmoid(3x)."""

    classes_ = np.array([0, 1])

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        p1 = 1 / (1 + np.exp(-3 * features["x"].to_numpy()))
        return np.column_stack([1 - p1, p1])


def test_cbpe_calibrates_an_overconfident_model_on_the_reference() -> None:
    rng = np.random.default_rng(6)

    def sample(rows: int, shift: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
        x = rng.normal(shift, 1.5, rows)
        return pd.DataFrame({"x": x}), (rng.uniform(size=rows) < 1 / (1 + np.exp(-x))).astype(int)

    model = Overconfident()
    reference_x, reference_y = sample(5000)
    estimator = fit_confidence_estimator(model, reference_x, reference_y)
    window_x, window_y = sample(5000, shift=1.0)  # covariate shift: P(y|x) unchanged
    accuracy = ((model.predict_proba(window_x)[:, 1] > 0.5) == window_y).mean()
    raw = confidence_estimate(model.predict_proba(window_x), [0, 1])
    calibrated = estimator.estimate(window_x)
    assert raw.accuracy is not None and raw.accuracy - accuracy > 0.05  # uncalibrated: too optimistic
    assert calibrated.accuracy == pytest.approx(accuracy, abs=0.02)
    assert "calibrated on the reference" in (calibrated.reason or "")
