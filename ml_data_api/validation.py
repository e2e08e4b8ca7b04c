"""Validate and type incoming rows against a dataset schema, a whole batch at once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from conveyor.api.errors import Unprocessable
from conveyor.schemas.datasets import DatasetSchema, FeatureType, Split
from conveyor.schemas.services import ModelRole
from ml_data_api.tables import data_columns

# Production columns a writer may leave out (a row loaded by hand has no job).
OPTIONAL_PRODUCTION = {
    "prediction", "model_name", "model_version", "job_id", "service",
    "model_role", "shadow_prediction", "shadow_model_name", "shadow_model_version",
}
MODEL_ROLES = tuple(role.value for role in ModelRole)
TRUE = {"true", "1", "yes", "t", "y"}
FALSE = {"false", "0", "no", "f", "n"}


def _first_bad(mask: pd.Series, original: pd.Series, column: str, expected: str) -> None:
    if mask.any():
        index = int(np.flatnonzero(mask.to_numpy())[0])
        value = original.iloc[index]
        raise Unprocessable(
            f"row {index}: column {column!r} has {value!r}, expected {expected} "
            f"({int(mask.sum())} bad value(s) in this column)"
        )


def coerce(series: pd.Series, kind: FeatureType, column: str) -> pd.Series:
    present = series.notna()
    if kind in (FeatureType.float, FeatureType.int):
        is_bool = series.map(lambda v: isinstance(v, bool | np.bool_)) if series.dtype == object else None
        numbers = pd.to_numeric(series, errors="coerce")
        bad = present & numbers.isna()
        if is_bool is not None:
            bad |= is_bool
        _first_bad(bad, series, column, "a number")
        if kind is FeatureType.int:
            fractional = numbers.notna() & (numbers != np.floor(numbers))
            _first_bad(fractional, series, column, "an integer")
            return numbers.astype("Int64")
        return numbers.astype("float64")
    if kind is FeatureType.bool:
        def to_bool(v: Any) -> Any:
            if isinstance(v, bool | np.bool_):
                return bool(v)
            text = str(v).strip().lower()
            return True if text in TRUE else False if text in FALSE else None
        converted = series.map(to_bool, na_action="ignore")
        _first_bad(present & converted.isna(), series, column, "true or false")
        return converted.astype("boolean")
    return series.where(~present, series.astype(str))


def parse_times(series: pd.Series, column: str) -> pd.Series:
    parsed: pd.Series = pd.to_datetime(series, errors="coerce", utc=True, format="ISO8601")
    _first_bad(series.notna() & parsed.isna(), series, column, "an ISO-8601 time")
    missing = parsed.isna()
    if missing.any():
        parsed = parsed.where(~missing, pd.Timestamp(datetime.now(UTC)))
    return parsed


def validate(frame: pd.DataFrame, schema: DatasetSchema, split: Split) -> pd.DataFrame:
    """The rows typed in table column order; a 422 names the first problem found."""
    columns = data_columns(schema, split)
    allowed = {c.name for c in columns}
    unknown = sorted(set(frame.columns) - allowed)
    if unknown:
        raise Unprocessable(
            f"unknown column(s) {unknown} for dataset {schema.name!r} ({split.value}); "
            f"allowed: {[c.name for c in columns]}"
        )
    required = {f.name for f in schema.features}
    if split is not Split.production:
        required.add(schema.target)
    else:
        required.add("record_id")
    missing = sorted(required - set(frame.columns))
    if missing:
        raise Unprocessable(f"missing column(s) {missing} for dataset {schema.name!r} ({split.value})")
    out = pd.DataFrame(index=frame.index)
    ts = schema.timestamp_column
    out[ts] = parse_times(frame[ts] if ts in frame else pd.Series([None] * len(frame), index=frame.index), ts)
    for col in columns[1:]:
        if col.name in frame:
            out[col.name] = coerce(frame[col.name], col.type, col.name)
        else:
            out[col.name] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    if split is Split.production:
        ids = out["record_id"]
        _first_bad(frame["record_id"].isna() | (ids.astype(str).str.len() == 0), frame["record_id"],
                   "record_id", "a non-empty id")
        roles = out["model_role"]
        sent = frame["model_role"] if "model_role" in frame else roles
        _first_bad(roles.notna() & ~roles.isin(MODEL_ROLES), sent, "model_role",
                   f"one of {list(MODEL_ROLES)} (or null, which means champion)")
    # A missing value would silently become a NULL feature: every row must be complete.
    for name in [f.name for f in schema.features] + ([] if split is Split.production else [schema.target]):
        _first_bad(frame[name].isna(), frame[name], name, "a value (missing or null)")
    return out.reset_index(drop=True)
