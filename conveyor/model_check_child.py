"""The short-lived process in which an uploaded model file is loaded: `main([..., DIR])`.

Run by conveyor.model_check_server in the process it forks for one check (`python -m conveyor.model_check_child
DIR` does the same in a fresh interpreter, for trying a file by hand): DIR holds `model` (the file) and
`request.json` (its name, the dataset's schema, the rows to predict on, the loader's settings, the memory limit).
The limits are set before the file is read (the heavy modules are the server's, imported before the fork: the
address-space limit counts them, as it counted a fresh process's imports), then the file is loaded with the
platform's loader - this is where an uploaded pickle's code runs - and made to predict; the verdict goes to
DIR/verdict.json (written whole, then renamed, so a killed process leaves none rather than half of one).
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path
from typing import Any

# Files the check may write (its output, PyCaret's log): a file that writes without end is stopped by SIGXFSZ.
MAX_FILE_BYTES = 64 * 1024 * 1024


def _limit(memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file in the temp directory


def _peak_mb(field: str) -> float:
    """VmPeak (address space, what RLIMIT_AS limits, including the server's imports the fork inherits) or VmHWM
    (resident memory, since the server's fork reset it): ru_maxrss would carry the server's."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _fitted_columns(model: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return None
    try:
        columns = [str(name) for name in names]
    except TypeError:
        return None
    return columns or None


def _columns_problem(model: Any, schema: Any) -> str | None:
    """Why predict failed, when the model was fitted (with feature names) on other columns. The target may be
    among them (a PyCaret pipeline is fitted on the features and the target)."""
    fitted = _fitted_columns(model)
    if fitted is None:
        return None
    expected = schema.feature_names
    needed = [name for name in fitted if name not in expected and name != schema.target]
    unknown = [name for name in expected if name not in fitted]
    if not needed and not unknown:
        return None
    details = ([f"the dataset has no {', '.join(needed)}"] if needed else []) + (
        [f"the model was not fitted on {', '.join(unknown)}"] if unknown else [])
    return (f"is a model for other columns: it was fitted on {', '.join(fitted)}, dataset {schema.name!r} has "
            f"{', '.join(expected)} ({'; '.join(details)})")


def _frame(rows: list[dict[str, Any]], schema: Any) -> Any:
    """The rows as the worker hands them to a model: the schema's columns in its order, typed (as
    conveyor.training.frame does; that package is not imported, it pulls in PyCaret's helpers for nothing)."""
    import pandas as pd

    dtypes = {"float": "float64", "int": "int64", "str": "object", "bool": "bool"}
    frame = pd.DataFrame.from_records(rows, columns=schema.feature_names)
    return frame.astype({f.name: dtypes[f.type.value] for f in schema.features})


def _judge(content: bytes, request: dict[str, Any]) -> tuple[bool, str, str]:
    """(accepted, reason, model type)."""
    import numpy as np

    from conveyor.model_files import ModelFileSettings, ModelTooLarge, UnloadableModel, load_model
    from conveyor.schemas.datasets import DatasetSchema, FeatureType, Task

    what = request["what"]
    settings = ModelFileSettings(allow_pickle=bool(request["allow_pickle"]),
                                 trusted_types=tuple(request["trusted_types"]))
    try:
        model = load_model(content, request["filename"], what=what, settings=settings)
    except ModelTooLarge:
        raise MemoryError from None  # said with the check's own limit, below
    except UnloadableModel as refused:
        return False, str(refused), ""
    model_type = f"{type(model).__module__}.{type(model).__qualname__}"
    schema = DatasetSchema.model_validate(request["schema"])
    rows = request["rows"]
    x = _frame(rows, schema)
    shape = ", ".join(f"{f.name} {f.type.value}" for f in schema.features)
    try:
        predictions = np.asarray(model.predict(x))
    except MemoryError:
        raise
    except Exception as exc:  # whatever the model raises: the message is the user's best clue
        failure = f"{type(exc).__name__}: {exc}"
        # Predicting decides (a model that ignores its input is fine); the columns only explain a failure.
        problem = _columns_problem(model, schema)
        if problem:
            return False, f"{what} {problem}; predict says {failure}", model_type
        return False, (f"{what} loads but cannot predict on {len(rows)} rows shaped like dataset {schema.name!r} "
                       f"({shape}): {failure}"), model_type
    count = predictions.shape[0] if predictions.ndim else 0
    if count != len(rows):
        return False, f"{what} predicted {count} values for {len(rows)} rows: it must give one per row", model_type
    numeric = (FeatureType.float, FeatureType.int)
    if schema.task is Task.regression and schema.resolved_target_type in numeric:
        try:
            predictions.astype("float64")
        except (TypeError, ValueError):
            return False, (f"{what} predicts {predictions[:3].tolist()!r}, not numbers, for the regression "
                           f"dataset {schema.name!r}"), model_type
    return True, "", model_type


def main(argv: list[str]) -> int:
    directory = Path(argv[1])
    request = json.loads((directory / "request.json").read_text())
    memory_bytes = int(request["memory_bytes"])
    _limit(memory_bytes)
    try:
        accepted, reason, model_type = _judge((directory / "model").read_bytes(), request)
    except MemoryError:
        accepted, reason, model_type = False, (f"{request['what']} needs more memory than MODEL_CHECK_MEMORY_MB "
                                               f"({memory_bytes / 1024 / 1024:g} MB) to load and predict"), ""
    except Exception as exc:  # the check's own step failed (building the rows...): said, not a bare exit status
        accepted, reason, model_type = False, f"checking {request['what']} failed: {type(exc).__name__}: {exc}", ""
    verdict = {"accepted": accepted, "reason": reason, "model_type": model_type,
               "peak_rss_mb": _peak_mb("VmHWM"), "peak_vm_mb": _peak_mb("VmPeak")}
    partial = directory / "verdict.json.partial"
    partial.write_text(json.dumps(verdict))
    os.replace(partial, directory / "verdict.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
