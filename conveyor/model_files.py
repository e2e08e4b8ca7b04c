"""The one way a model file becomes a model, in every component that loads one.

A model file is code. A pickle (joblib, .pkl, .pickle) runs whatever its author put in it the moment it is
loaded, in the process that loads it: queue_manager's check process, the worker, retraining_api and its
executor, monitoring_api. skops (`.skops`, the scikit-learn community's format) stores the objects' state
instead and refuses, before building anything, the types it does not trust; the types listed in
MODEL_TRUSTED_TYPES are trusted too. Pickle files are loaded only while MODEL_ALLOW_PICKLE allows it
(on by default in development, off in production).

The format comes from the file's name (`.skops`; `.pkl`, `.pickle`, `.joblib`); a name with neither (an
upload called "model", the old records) is read by its first bytes: a skops file is a zip archive.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from conveyor.schemas.algorithms import ModelFormat
from conveyor.settings import Declared, load, setting

SKOPS_SUFFIXES = frozenset({".skops"})
PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib"})
ZIP_MAGIC = b"PK\x03\x04"
SAVE_AS_SKOPS = "skops.io.dump(model, 'model.skops')"


@dataclass(frozen=True)
class ModelFileSettings(Declared, env_prefix="MODEL_"):
    """How model files are loaded: read alike by every component that loads one."""

    allow_pickle: bool = setting(True, "Pickle and joblib model files are loaded (such a file runs code when it "
                                       "is loaded: allow it only for uploaders you trust); .skops files always are.",
                                 production=False)
    trusted_types: tuple[str, ...] = setting((), "Types a .skops file may hold beyond those skops trusts "
                                                 "itself, by full name (comma-separated), e.g. "
                                                 "`xgboost.sklearn.XGBRegressor`.")


def model_file_settings() -> ModelFileSettings:
    return load(ModelFileSettings)


class UnloadableModel(RuntimeError):
    """The file is not a model this component may use; the message says why, in a sentence."""


class ModelTooLarge(UnloadableModel):
    """Loading the file ran out of the memory this process may use."""


def format_by_name(filename: str | None) -> ModelFormat | None:
    """The format a file's name says (None: its suffix names none)."""
    suffix = PurePath(filename or "").suffix.lower()
    if suffix in SKOPS_SUFFIXES:
        return ModelFormat.skops
    if suffix in PICKLE_SUFFIXES:
        return ModelFormat.pickle
    return None


def model_format(filename: str | None, content: bytes) -> ModelFormat:
    """The file's format: its name's, else its first bytes' (a skops file is a zip archive; else a pickle)."""
    return format_by_name(filename) or (ModelFormat.skops if content.startswith(ZIP_MAGIC) else ModelFormat.pickle)


def stored_filename(filename: str, found: ModelFormat) -> str:
    """The name a file is kept under, so that the name alone says its format (`stored_format`)."""
    if found is ModelFormat.skops and format_by_name(filename) is not ModelFormat.skops:
        return f"{filename}.skops"
    return filename


def stored_format(filename: str) -> ModelFormat:
    """The format of a file kept under `stored_filename`'s name (records from before skops are pickles)."""
    return ModelFormat.skops if format_by_name(filename) is ModelFormat.skops else ModelFormat.pickle


def _load_skops(content: bytes, what: str, settings: ModelFileSettings) -> Any:
    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(data=content)
    except Exception as exc:  # not a zip, or no schema in it: whatever skops raises on a foreign file
        raise UnloadableModel(f"{what} does not load as a skops file ({type(exc).__name__}: {exc})") from exc
    refused = sorted(set(untrusted) - set(settings.trusted_types))
    if refused:
        raise UnloadableModel(
            f"{what} holds types skops does not trust: {', '.join(refused)}; if you trust them, add them to "
            "MODEL_TRUSTED_TYPES (comma-separated) on every component that loads models")
    try:
        return skops.io.loads(content, trusted=untrusted)
    except MemoryError as exc:
        raise ModelTooLarge(f"{what} needs more memory than this process may use to load it") from exc
    except Exception as exc:  # a damaged or inconsistent file
        raise UnloadableModel(f"{what} does not load as a skops file ({type(exc).__name__}: {exc})") from exc


def _looks_like_text(content: bytes) -> bool:
    head = content[:1024]
    try:
        decoded = head.decode()
    except UnicodeDecodeError:
        return False
    return all(char.isprintable() or char in "\t\r\n" for char in decoded)


def _load_pickle(content: bytes, what: str, settings: ModelFileSettings) -> Any:
    if not settings.allow_pickle:
        raise UnloadableModel(
            f"{what} is a pickle/joblib file, and pickle files are refused: MODEL_ALLOW_PICKLE=false (a pickle runs "
            f"code when it is loaded); save the model with skops instead, {SAVE_AS_SKOPS}")
    import joblib

    try:
        # joblib reads plain pickles too. This is where a pickle's own code runs.
        return joblib.load(io.BytesIO(content))
    except MemoryError as exc:
        raise ModelTooLarge(f"{what} needs more memory than this process may use to load it") from exc
    except Exception as exc:  # whatever unpickling a foreign file raises
        text = " - it is a text file, not a saved model" if _looks_like_text(content) else ""
        raise UnloadableModel(f"{what} does not load as a pickle/joblib file ({type(exc).__name__}: {exc}){text}; "
                              f"save a fitted model with joblib.dump or {SAVE_AS_SKOPS}") from exc


def load_model(content: bytes, filename: str | None, *, what: str | None = None,
               settings: ModelFileSettings | None = None, require_predict: bool = True) -> Any:
    """The model in `content`, or UnloadableModel saying why not.

    `what` names the file in messages ("model m v3"; default: the file's name). `settings` default to the
    environment's (MODEL_ALLOW_PICKLE, MODEL_TRUSTED_TYPES).
    """
    settings = settings or model_file_settings()
    if what is None:
        what = f"model file {filename!r}" if filename else "the model file"
    if not content:
        raise UnloadableModel(f"{what} is empty")
    if model_format(filename, content) is ModelFormat.skops:
        model = _load_skops(content, what, settings)
    else:
        model = _load_pickle(content, what, settings)
    if require_predict and not callable(getattr(model, "predict", None)):
        raise UnloadableModel(f"{what} loads as a {type(model).__module__}.{type(model).__qualname__}, which has "
                              "no .predict method: upload a fitted model (an estimator or a pipeline)")
    return model
