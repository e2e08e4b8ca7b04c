"""Train with PyCaret: compare a few candidates, refit the best on all training rows.

PyCaret is imported inside the function: it takes seconds, and nothing else needs it.
The holdout is never shown to PyCaret, so new and previous models are scored on the
same unseen rows by `evaluate`.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from conveyor.schemas.datasets import DatasetSchema, Task
from conveyor.training.artifacts import dump_model
from conveyor.training.frame import frame_from_rows
from conveyor.training.metrics import evaluate

log = logging.getLogger(__name__)
DEFAULT_INCLUDE = {Task.regression: ["lr", "ridge", "dt"], Task.classification: ["lr", "ridge", "dt"]}
Progress = Callable[[str, float], None]


@dataclass
class TrainedModel:
    pipeline: Any
    model_id: str
    model_name: str
    metrics: dict[str, Any]
    config: bytes
    framework: str
    seconds: float


def _experiment(task: Task) -> Any:
    if task is Task.regression:
        from pycaret.regression import RegressionExperiment

        return RegressionExperiment()
    from pycaret.classification import ClassificationExperiment

    return ClassificationExperiment()


_listing = threading.Lock()


def available_models(task: Task) -> dict[str, str]:
    """PyCaret's model ids and names for a task ({"lr": "Linear Regression", ...}).

    PyCaret lists them only after a setup, so one runs on a few synthetic rows (~4 s
    the first time in a process, cached after; callers from several threads wait for one).
    """
    with _listing:
        return _available_models(task)


@functools.cache
def _available_models(task: Task) -> dict[str, str]:
    rng = np.random.default_rng(0)
    target = rng.normal(size=40) if task is Task.regression else np.arange(40) % 2
    experiment = _experiment(task)
    experiment.setup(data=pd.DataFrame({"x": rng.normal(size=40), "y": target}), target="y", session_id=0,
                     n_jobs=1, verbose=False, html=False, system_log=logging.getLogger("conveyor.pycaret"), fold=2)
    table = experiment.models()
    return {str(i): str(n) for i, n in zip(table.index, table["Name"], strict=True)}


def valid_model_ids(task: Task) -> list[str]:
    return sorted(available_models(task))


def train_model(
    training: pd.DataFrame | list[dict], holdout: pd.DataFrame | list[dict], schema: DatasetSchema,
    include: list[str] | None = None, budget_seconds: float | None = None, seed: int = 0,
    progress: Progress | None = None,
) -> TrainedModel:
    started = time.perf_counter()
    report = progress or (lambda stage, pct: None)
    x, y = frame_from_rows(training, schema)
    if len(x) == 0 or y is None:
        raise ValueError("there are no labelled training rows to train on")
    include = include or DEFAULT_INCLUDE[schema.task]
    report("setup", 5)
    import pycaret

    experiment = _experiment(schema.task)
    data = x.assign(**{schema.target: y.to_numpy()})
    experiment.setup(
        data=data, target=schema.target, session_id=seed, n_jobs=1, verbose=False, html=False,
        log_experiment=False, system_log=logging.getLogger("conveyor.pycaret"), fold=3,
    )
    known = set(experiment.models().index)
    unknown = sorted(set(include) - known)
    if unknown:
        raise ValueError(f"unknown PyCaret model id(s) {unknown}; valid ids: {sorted(known)}")
    report("compare_models", 20)
    best = experiment.compare_models(
        include=include, n_select=1, verbose=False,
        budget_time=(budget_seconds / 60) if budget_seconds else None,
    )
    if isinstance(best, list) or not hasattr(best, "fit"):
        raise ValueError(f"PyCaret could not fit any of {include} on {len(x)} training rows "
                         "(every candidate failed in cross-validation; the run's log says why)")
    report("finalize_model", 80)
    final = experiment.finalize_model(best)
    classes = experiment.models(internal=True)["Class"]
    model_id = next((i for i in include if isinstance(best, classes[i])), include[0])
    model_name = type(best).__name__
    report("evaluate", 90)
    metrics = evaluate(final, holdout, schema, model_name=model_name)
    config = {
        "setup": {"target": schema.target, "session_id": seed, "fold": 3, "n_jobs": 1},
        "include": include, "model_id": model_id, "model_params": best.get_params(),
        "features": schema.feature_names, "training_rows": len(x),
        "versions": {"pycaret": pycaret.__version__, "sklearn": __import__("sklearn").__version__},
    }
    report("done", 100)
    return TrainedModel(
        pipeline=final, model_id=model_id, model_name=model_name, metrics=metrics, config=dump_model(config),
        framework=f"pycaret {pycaret.__version__}", seconds=time.perf_counter() - started,
    )
