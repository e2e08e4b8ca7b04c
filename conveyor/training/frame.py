"""Rows of a dataset as model inputs: features in schema order, typed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from conveyor.schemas.datasets import DatasetSchema, FeatureType

DTYPES: dict[FeatureType, np.dtype[Any]] = {
    FeatureType.float: np.dtype("float64"), FeatureType.int: np.dtype("int64"), FeatureType.str: np.dtype("O"),
    FeatureType.bool: np.dtype("bool"),
}


def frame_from_rows(rows: list[dict[str, Any]] | pd.DataFrame, schema: DatasetSchema,
                    target: str | None = None) -> tuple[pd.DataFrame, pd.Series | None]:
    """(X, y): y is taken from `target` (default: the dataset's target) when present."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame.from_records(rows)
    missing = [name for name in schema.feature_names if name not in frame.columns]
    if missing:
        raise ValueError(f"rows lack feature(s) {missing} of dataset {schema.name!r}")
    x = pd.DataFrame({f.name: frame[f.name].astype(DTYPES[f.type]) for f in schema.features})
    column = target or schema.target
    y = frame[column] if column in frame.columns else None
    if y is not None and schema.target_type in (FeatureType.float, FeatureType.int):
        y = y.astype("float64")
    return x, y
