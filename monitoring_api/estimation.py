"""Performance before labels arrive: a model's error estimated from features and predictions alone.

Regression: DLE, direct loss estimation. A second model, fitted on reference rows whose labels are known
(the version's holdout), learns each row's absolute error (and, separately, its squared error) from the
row's features and the model's prediction; a window's estimated MAE is the mean of the predicted absolute
errors, its RMSE the square root of the mean predicted squared error.

Classification: CBPE, confidence-based performance estimation. With the model's predicted probabilities
taken as the chance each class is the true one, the expected confusion matrix gives the expected accuracy
(the mean probability of the predicted class) and F1 (binary: the last class is the positive one, as in the
realized scores; more classes: weighted by the expected support). The probabilities are first calibrated on
the labelled reference rows (isotonic regression per class), since many models' are not.

Both assume no concept drift: P(y | x) is what it was on the reference, only the inputs may move (covariate
shift); CBPE assumes the calibrated probabilities hold on the window too. When the relation between inputs
and target changes, the estimate does not see it: realized metrics on labelled rows remain the judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.isotonic import IsotonicRegression
from threadpoolctl import threadpool_limits

from conveyor.schemas.monitoring import Estimate

DLE = "DLE"
CBPE = "CBPE"
MIN_REFERENCE_ROWS = 50  # fewer labelled rows teach the loss model nothing it can be trusted with
MAX_CATEGORIES = 250  # HistGradientBoosting's categorical support stops at 255 bins
PREDICTION_COLUMN = "__prediction__"
# One OpenMP thread: on a busy 2-core host, more threads than cores make a 0.4 s fit take seconds.
THREADS = 1
ASSUMPTION = "assumes no concept drift (P(y|x) as on the reference)"


class NotEnoughRows(ValueError):
    """The reference is too small to fit an estimator on: the message says how small."""


def _loss_model(categorical: list[bool], seed: int) -> HistGradientBoostingRegressor:
    # Shallow, regularized trees: the errors are noisy targets, the mean over a window is what matters.
    return HistGradientBoostingRegressor(max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=20,
                                         l2_regularization=1.0, categorical_features=categorical or None,
                                         random_state=seed)


@dataclass
class _Encoding:
    """The reference's columns as numbers, so a window is encoded exactly like the rows fitted on."""

    numerical: list[str]
    categories: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, features: pd.DataFrame) -> _Encoding:
        numerical, categories = [], {}
        for name in features.columns:
            column = features[name]
            if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
                numerical.append(str(name))
            else:
                categories[str(name)] = sorted(column.dropna().astype(str).unique().tolist())[:MAX_CATEGORIES]
        return cls(numerical, categories)

    @property
    def columns(self) -> list[str]:
        return [*self.numerical, *self.categories]

    @property
    def categorical_mask(self) -> list[bool]:
        return [False] * (len(self.numerical) + 1) + [True] * len(self.categories)

    def encode(self, features: pd.DataFrame, predictions: np.ndarray) -> np.ndarray:
        missing = [c for c in self.columns if c not in features.columns]
        if missing:
            raise KeyError(f"the window lacks feature(s) {missing}")
        parts = [features[self.numerical].astype(float).to_numpy().reshape(len(features), -1),
                 np.asarray(predictions, dtype=float).reshape(-1, 1)]
        for name, known in self.categories.items():
            # Categories the reference never saw become missing values, which the trees route on their own.
            codes = pd.Categorical(features[name].astype(str), categories=known).codes.astype(float)
            parts.append(np.where(codes < 0, np.nan, codes).reshape(-1, 1))
        return np.hstack(parts)


@dataclass
class LossEstimator:
    """DLE fitted on reference rows: `estimate` gives a window's expected MAE and RMSE."""

    encoding: _Encoding
    absolute: HistGradientBoostingRegressor
    squared: HistGradientBoostingRegressor
    reference_rows: int

    def estimate(self, features: pd.DataFrame, predictions: np.ndarray) -> Estimate:
        predictions = np.asarray(predictions, dtype=float)
        keep = ~np.isnan(predictions)
        if not keep.any():
            return Estimate(method=None, reason="the window holds no rows with a prediction to estimate from")
        try:
            x = self.encoding.encode(features.loc[keep], predictions[keep])
        except (KeyError, ValueError) as exc:
            return Estimate(method=None, reason=f"the window cannot be read like the reference: {exc}")
        # A regressor may dip below zero where errors are small; an error never does.
        with threadpool_limits(THREADS):
            absolute = np.clip(self.absolute.predict(x), 0, None)
            squared = np.clip(self.squared.predict(x), 0, None)
        return Estimate(method=DLE, rows=int(keep.sum()), mae=float(absolute.mean()),
                        rmse=float(np.sqrt(squared.mean())),
                        reason=f"direct loss estimation fitted on {self.reference_rows} labelled reference rows; "
                               f"{ASSUMPTION}")


def fit_loss_estimator(features: pd.DataFrame, predictions: np.ndarray, truth: np.ndarray,
                       seed: int = 0) -> LossEstimator:
    """A DLE fitted on labelled reference rows; NotEnoughRows when fewer than MIN_REFERENCE_ROWS are usable."""
    predictions = np.asarray(predictions, dtype=float)
    truth = np.asarray(truth, dtype=float)
    keep = ~(np.isnan(predictions) | np.isnan(truth))
    if keep.sum() < MIN_REFERENCE_ROWS:
        raise NotEnoughRows(f"the reference holds {int(keep.sum())} labelled rows with a prediction: at least "
                            f"{MIN_REFERENCE_ROWS} are needed to fit a loss estimator")
    features = features.loc[keep].reset_index(drop=True)
    encoding = _Encoding.of(features)
    x = encoding.encode(features, predictions[keep])
    error = predictions[keep] - truth[keep]
    with threadpool_limits(THREADS):
        absolute = _loss_model(encoding.categorical_mask, seed).fit(x, np.abs(error))
        squared = _loss_model(encoding.categorical_mask, seed).fit(x, error**2)
    return LossEstimator(encoding, absolute, squared, int(keep.sum()))


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def confidence_estimate(probabilities: np.ndarray, classes: Sequence[Any], predicted: np.ndarray | None = None,
                        calibrated: bool = False) -> Estimate:
    """CBPE: expected accuracy and F1 of the predicted classes (default: each row's most probable one)."""
    p = np.asarray(probabilities, dtype=float)
    if p.ndim != 2 or p.shape[1] != len(classes) or len(classes) < 2:
        return Estimate(method=None, reason=f"probabilities of shape {p.shape} do not match the model's "
                                            f"{len(classes)} classes")
    keep = ~np.isnan(p).any(axis=1)
    if not keep.any():
        return Estimate(method=None, reason="the window holds no rows with probabilities to estimate from")
    p = p[keep]
    chosen = (p.argmax(axis=1) if predicted is None else np.asarray(predicted)[keep]).astype(int)
    # Expected confusion matrix: row i adds its probability of each true class to its predicted column.
    confusion = np.zeros((len(classes), len(classes)))
    np.add.at(confusion.T, chosen, p)
    tp = np.diag(confusion)
    fp = confusion.sum(axis=0) - tp
    fn = confusion.sum(axis=1) - tp
    per_class = _f1(tp, fp, fn)
    support = confusion.sum(axis=1)
    f1 = per_class[-1] if len(classes) == 2 else float((per_class * support).sum() / support.sum())
    how = "probabilities calibrated on the reference" if calibrated else "probabilities taken as calibrated"
    return Estimate(method=CBPE, rows=len(p), accuracy=float(p[np.arange(len(p)), chosen].mean()), f1=float(f1),
                    reason=f"confidence-based estimation from the model's {how}; {ASSUMPTION}")


@dataclass
class ConfidenceEstimator:
    """CBPE for a classifier: the model itself gives the window's probabilities (CPU work: call off the loop)."""

    model: Any
    classes: list[Any]
    calibrators: list[IsotonicRegression] | None = None  # per class, fitted on the labelled reference

    def calibrate(self, probabilities: np.ndarray) -> np.ndarray:
        if self.calibrators is None:
            return probabilities
        p = np.column_stack([c.predict(probabilities[:, k]) for k, c in enumerate(self.calibrators)])
        total = p.sum(axis=1, keepdims=True)
        # A row every calibrator puts at zero keeps the model's own probabilities.
        return np.where(total > 0, p / np.where(total > 0, total, 1), probabilities)

    def estimate(self, features: pd.DataFrame) -> Estimate:
        try:
            probabilities = np.asarray(self.model.predict_proba(features), dtype=float)
        except Exception as exc:  # a user's model can fail in any way: the estimate says so
            return Estimate(method=None, reason=f"the model could not give probabilities for the window: {exc}")
        if probabilities.ndim != 2 or probabilities.shape[1] != len(self.classes):
            return confidence_estimate(probabilities, self.classes)
        return confidence_estimate(self.calibrate(probabilities), self.classes, probabilities.argmax(axis=1),
                                   calibrated=self.calibrators is not None)


def fit_confidence_estimator(model: Any, features: pd.DataFrame, truth: np.ndarray) -> ConfidenceEstimator:
    """CBPE with per-class isotonic calibration on labelled reference rows (none when too few, or a class
    never occurs there: the raw probabilities are used and the reason says so)."""
    classes = list(model.classes_)
    truth = np.asarray(truth)
    if len(truth) < MIN_REFERENCE_ROWS or any((truth == c).sum() == 0 for c in classes):
        return ConfidenceEstimator(model, classes)
    probabilities = np.asarray(model.predict_proba(features), dtype=float)
    calibrators = [IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(probabilities[:, k],
                                                                                   (truth == c).astype(float))
                   for k, c in enumerate(classes)]
    return ConfidenceEstimator(model, classes, calibrators)


def no_probabilities(model: Any) -> str:
    return (f"the model gives no probabilities: {type(model).__name__} has no predict_proba, so confidence-based "
            "estimation cannot run; accuracy and F1 wait for labels")
