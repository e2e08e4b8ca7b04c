"""Scores of a model on rows, computed with the model's own .predict (never predict_model)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as m

from conveyor.schemas.datasets import DatasetSchema, Task
from conveyor.training.frame import frame_from_rows


def regression_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    mse = m.mean_squared_error(y_true, y_pred)
    # RMSLE as PyCaret computes it: undefined for negative values, so those count as NaN.
    if (y_true < 0).any() or (y_pred < 0).any():
        rmsle = float("nan")
    else:
        rmsle = float(np.sqrt(m.mean_squared_log_error(y_true, y_pred)))
    return {
        "MAE": float(m.mean_absolute_error(y_true, y_pred)),
        "MSE": float(mse),
        "RMSE": float(np.sqrt(mse)),
        "R2": float(m.r2_score(y_true, y_pred)),
        "RMSLE": rmsle,
        "MAPE": float(m.mean_absolute_percentage_error(y_true, y_pred)),
    }


def classification_scores(model: Any, x: pd.DataFrame, y_true: pd.Series, y_pred: np.ndarray) -> dict[str, float]:
    labels = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]))
    average = "binary" if len(labels) == 2 else "weighted"
    pos = {"pos_label": labels[-1]} if average == "binary" else {}
    scores = {
        "Accuracy": float(m.accuracy_score(y_true, y_pred)),
        "AUC": float("nan"),
        "Recall": float(m.recall_score(y_true, y_pred, average=average, zero_division=0, **pos)),
        "Prec.": float(m.precision_score(y_true, y_pred, average=average, zero_division=0, **pos)),
        "F1": float(m.f1_score(y_true, y_pred, average=average, zero_division=0, **pos)),
        "Kappa": float(m.cohen_kappa_score(y_true, y_pred)),
        "MCC": float(m.matthews_corrcoef(y_true, y_pred)),
    }
    if hasattr(model, "predict_proba"):
        try:
            proba = model.predict_proba(x)
            if proba.shape[1] == 2:
                scores["AUC"] = float(m.roc_auc_score(y_true == labels[-1], proba[:, 1]))
            else:
                scores["AUC"] = float(m.roc_auc_score(y_true, proba, multi_class="ovr"))
        except (ValueError, AttributeError):
            pass
    return scores


def evaluate(model: Any, rows: list[dict] | pd.DataFrame, schema: DatasetSchema, target: str | None = None,
             model_name: str | None = None) -> dict[str, Any]:
    """Scores in the reference system's shape: {"Model", "MAE", "MSE", "RMSE", "R2", "RMSLE", "MAPE"}."""
    x, y = frame_from_rows(rows, schema, target)
    if y is None or len(x) == 0:
        raise ValueError("no labelled rows to evaluate on")
    y_pred = np.asarray(model.predict(x))
    name = model_name or type(getattr(model, "steps", [[None, model]])[-1][1]).__name__
    if schema.task is Task.regression:
        return {"Model": name, **regression_scores(y.to_numpy(), y_pred)}
    return {"Model": name, **classification_scores(model, x, y, y_pred)}
