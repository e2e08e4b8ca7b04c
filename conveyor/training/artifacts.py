"""The platform's own runs save PyCaret pipelines with joblib; every model is loaded by conveyor.model_files.

Why joblib and not skops: skops cannot save a PyCaret pipeline in general. A pipeline for a dataset with a
text feature holds category_encoders' OneHotEncoder, whose pandas internals skops refuses to save
("no default __reduce__"), and one it can save holds PyCaret and joblib types skops does not trust
(pycaret.internal.pipeline.Pipeline, its _fit_one/_transform_one functions, joblib's NotMemorizedFunc...).
So a retraining run's model (and `conveyor train`'s) is a pickle: loading it anywhere needs
MODEL_ALLOW_PICKLE=true, in production too.
"""

from __future__ import annotations

import io
from typing import Any

import joblib

from conveyor.model_files import UnloadableModel
from conveyor.model_files import load_model as load_model_file

# The name the platform's runs upload their pipelines under: the suffix says pickle to the loader.
PIPELINE_SUFFIX = ".joblib"


def dump_model(model: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def load_model(content: bytes, filename: str | None = None, what: str | None = None) -> Any:
    """A model file as every component loads it (skops, or pickle where MODEL_ALLOW_PICKLE allows it); the file's
    stored name tells its format (without one, its first bytes do). Raises conveyor.model_files.UnloadableModel."""
    return load_model_file(content, filename, what=what)


def load_config(content: bytes, filename: str | None = None) -> dict[str, Any]:
    """A run's config file (the setup, features and versions it was trained with): saved like its pipeline, loaded
    by the same loader, but a dict has no .predict and is not asked for one."""
    config = load_model_file(content, filename, what="the config file", require_predict=False)
    if not isinstance(config, dict):
        raise UnloadableModel(f"the config file holds a {type(config).__name__}, not the settings of a run")
    return config
