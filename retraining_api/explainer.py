"""Static explainerdashboard HTML for a model on a sample of a split's rows.

explainerdashboard gets the pipeline's final estimator and the features as the
pipeline's own preprocessing turns them out, with a SHAP algorithm that fits the
estimator: TreeExplainer for trees and ensembles of trees, the linear one for linear
models, the kernel one (on a small background sample) only for the rest. Interactions
and the decision-tree tab stay off: together that is seconds, not half an hour. The page carries its own
plotly.js and Bootstrap (`conveyor.html_assets.offline_page`): it works with no internet.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from conveyor.html_assets import offline_page
from conveyor.schemas.datasets import DatasetSchema, Task
from conveyor.training.frame import frame_from_rows

log = logging.getLogger(__name__)
TREE_MODULES = ("xgboost", "lightgbm", "catboost")
KERNEL_BACKGROUND = 50


def explainer_key(model_name: str, version: int, evaluate_on: str, rows: int) -> str:
    return f"{model_name}:{version}:{evaluate_on}:{rows}"


def shap_algorithm(estimator: Any) -> str:
    module = type(estimator).__module__
    if hasattr(estimator, "tree_") or hasattr(estimator, "estimators_") or module.startswith(TREE_MODULES):
        return "tree"
    if hasattr(estimator, "coef_"):
        return "linear"
    return "kernel"


def split_pipeline(pipeline: Any, x: pd.DataFrame, y: pd.Series | None) -> tuple[Any, pd.DataFrame, Any]:
    """(final estimator, transformed X, transformed y): what the estimator itself sees."""
    steps = getattr(pipeline, "steps", None)
    if not steps:
        return pipeline, x, y
    xt, yt = x, y
    for _, step in steps[:-1]:
        if step is None or step == "passthrough":
            continue
        if yt is not None and _transforms_target(step):
            xt, yt = step.transform(xt, yt)
        else:
            xt = step.transform(xt)
    if not isinstance(xt, pd.DataFrame):
        xt = pd.DataFrame(xt, index=x.index)
    return steps[-1][1], xt, yt


def _transforms_target(step: Any) -> bool:
    # PyCaret's wrappers of target transformers (label encoding) answer (X, y) when given y.
    return bool(getattr(step, "_train_only", False) is False and getattr(step, "transformer", None) is not None
                and "Label" in type(step.transformer).__name__)


def _class_names(pipeline: Any) -> list[str] | None:
    """The original class names behind PyCaret's label encoding, for the dashboard's legends."""
    for _, step in getattr(pipeline, "steps", [])[:-1]:
        encoder = getattr(step, "transformer", None)
        if encoder is not None and _transforms_target(step) and hasattr(encoder, "classes_"):
            return [str(c) for c in encoder.classes_]
    return None


def build_html(pipeline: Any, rows: pd.DataFrame, schema: DatasetSchema, title: str) -> str:
    from explainerdashboard import ClassifierExplainer, ExplainerDashboard, RegressionExplainer

    x, y = frame_from_rows(rows, schema)
    if y is not None and y.isna().any():
        y = None  # unlabelled rows can still be explained, without the performance tabs
    estimator, xt, yt = split_pipeline(pipeline, x, y)
    algorithm = shap_algorithm(estimator)
    options: dict[str, Any] = {"shap": algorithm}
    if algorithm == "kernel":
        options["X_background"] = xt.sample(min(len(xt), KERNEL_BACKGROUND), random_state=0)
    if algorithm == "linear":
        options["X_background"] = xt
    target = None if yt is None else pd.Series(pd.Series(yt).to_numpy(), index=xt.index, name=schema.target)
    log.info("explaining %s on %d rows with shap=%s", type(estimator).__name__, len(xt), algorithm)
    if schema.task is Task.classification:
        classes = _class_names(pipeline)
        if classes:
            options["labels"] = classes
        explainer = ClassifierExplainer(estimator, xt, target, **options)
    else:
        explainer = RegressionExplainer(estimator, xt, target, **options)
    dashboard = ExplainerDashboard(explainer, title=title, shap_interaction=False, decision_trees=False,
                                   whatif=True, mode="dash")
    return offline_page(dashboard.to_html())
