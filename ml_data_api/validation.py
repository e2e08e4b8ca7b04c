"""Validate and type incoming rows against a dataset schema, a whole batch at once.

Every value is checked here against what its PostgreSQL column can hold (bigint, a finite double, text
without NUL and encodable as UTF-8), so that a refusal names the row, the column and what to send instead;
left to PostgreSQL or to pandas, such a value surfaced as a 500 from deep inside COPY.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from conveyor.api.errors import Unprocessable
from conveyor.schemas.datasets import DatasetSchema, FeatureType, Split
from conveyor.schemas.safe import INT64_MAX, INT64_MIN
from conveyor.schemas.services import ModelRole
from ml_data_api.tables import data_columns

# Production columns a writer may leave out (a row loaded by hand has no job).
OPTIONAL_PRODUCTION = {
    "prediction", "model_name", "model_version", "job_id", "service",
    "model_role", "shadow_prediction", "shadow_model_name", "shadow_model_version",
}
# Columns that name things (indexed, or shown as names): PostgreSQL's btree index refuses entries over about
# 2,700 bytes, so an id is kept far below that (the labels' record_id has the same bound).
ID_COLUMNS = {"record_id", "job_id", "service", "model_name", "shadow_model_name", "model_role"}
MAX_ID_LENGTH = 200
MODEL_ROLES = tuple(role.value for role in ModelRole)
TRUE = {"true", "1", "yes", "t", "y"}
FALSE = {"false", "0", "no", "f", "n"}
# float64 holds every integer up to 2^53 exactly: beyond it a vectorised parse may have rounded the value.
EXACT_FLOAT_INT = 2.0**53
INTEGER_TEXT = re.compile(r"[+-]?\d{1,30}")
SURROGATES = "[\ud800-\udfff]"  # a regular expression: lone halves of UTF-16 pairs
# What pandas' nanosecond timestamps can hold.
FIRST_YEAR, LAST_YEAR = pd.Timestamp.min.year + 1, pd.Timestamp.max.year - 1

EXPECT_NUMBER = "a number"
EXPECT_INTEGER = "an integer"
EXPECT_INT64 = ("an integer within -9223372036854775808..9223372036854775807 (PostgreSQL bigint); "
                "declare the feature as float for larger numbers")
EXPECT_FINITE = "a finite number (not infinity, at most about 1.8e308)"


def _first_bad(mask: pd.Series, original: pd.Series, column: str, expected: str) -> None:
    if mask.any():
        index = int(np.flatnonzero(mask.to_numpy())[0])
        value = original.iloc[index]
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise Unprocessable(
            f"row {index}: column {column!r} has {shown}, expected {expected} "
            f"({int(mask.sum())} bad value(s) in this column)"
        )


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def _inferred(series: pd.Series) -> str:
    """What the values are, found in C (pandas' infer_dtype): the checks below skip what cannot be there."""
    return str(pd.api.types.infer_dtype(series, skipna=True))


# Inferred kinds holding neither booleans nor objects or lists: numbers and text only.
PLAIN_SCALARS = {"integer", "floating", "mixed-integer-float", "decimal", "string", "empty"}


def _exact_int(value: Any) -> int | str:
    """The integer `value` stands for, or what was expected of it instead."""
    if _is_bool(value):
        return EXPECT_NUMBER
    if isinstance(value, int | np.integer):
        number = int(value)
    elif isinstance(value, str) and INTEGER_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        try:
            real = float(value)
        except (TypeError, ValueError):
            return EXPECT_NUMBER
        except OverflowError:
            return EXPECT_INT64
        if math.isnan(real):
            return EXPECT_NUMBER
        if math.isinf(real):
            return EXPECT_INT64
        if real != math.floor(real):
            return EXPECT_INTEGER
        number = int(real)
    return number if INT64_MIN <= number <= INT64_MAX else EXPECT_INT64


def _check_problems(problems: pd.Series, series: pd.Series, column: str) -> None:
    """Refuse the first value whose problem (what was expected instead; None for a good value) is set."""
    bad = problems.notna().to_numpy()
    if bad.any():
        _first_bad(pd.Series(bad, index=series.index), series, column, str(problems[bad].iloc[0]))


def _numbers(series: pd.Series) -> pd.Series | None:
    """A vectorised parse of numbers (NaN where not one), or None when the values must be read one by one."""
    if series.dtype.kind == "b" or (series.dtype == object and _inferred(series) not in PLAIN_SCALARS):
        return None  # True is not 1 here: a boolean in a numeric column is a mistake worth naming
    try:
        return pd.to_numeric(series, errors="coerce")
    except (OverflowError, TypeError, ValueError):  # an int beyond float64, an odd object
        return None


def _one_by_one(series: pd.Series, column: str, read: Any, dtype: str) -> pd.Series:
    present = series.notna()
    results = series[present].map(read)
    problems = results.map(lambda r: r if isinstance(r, str) else None)
    _check_problems(problems.reindex(series.index), series, column)
    values: list[Any] = [None] * len(series)
    for position, result in zip(np.flatnonzero(present.to_numpy()), results, strict=True):
        values[position] = result
    return pd.Series(pd.array(values, dtype=dtype), index=series.index)


def _integers(series: pd.Series, column: str) -> pd.Series:
    numbers = _numbers(series)
    if numbers is not None and numbers.dtype.kind == "f":
        finite = np.isfinite(numbers)
        odd = (series.notna() & numbers.isna()) | (numbers.notna() & (~finite | (numbers.abs() >= EXACT_FLOAT_INT)))
        if not odd.any():
            _first_bad(finite & (numbers != np.floor(numbers)), series, column, EXPECT_INTEGER)
            return numbers.astype("Int64")
        numbers = None  # not a number, infinite, or so large that float64 may have rounded it: read exactly below
    if numbers is not None and numbers.dtype.kind == "u":
        _first_bad(numbers > INT64_MAX, series, column, EXPECT_INT64)
    if numbers is not None and numbers.dtype.kind in "iu":
        return numbers.astype("Int64")
    # Exact for any size, and each problem named for what it is.
    return _one_by_one(series, column, _exact_int, "Int64")


def _float_value(value: Any) -> float | str:
    if _is_bool(value):
        return EXPECT_NUMBER
    try:
        real = float(value)
    except (TypeError, ValueError):
        return EXPECT_NUMBER
    except OverflowError:
        return EXPECT_FINITE
    if math.isnan(real):
        return EXPECT_NUMBER
    return real if math.isfinite(real) else EXPECT_FINITE


def _floats(series: pd.Series, column: str) -> pd.Series:
    numbers = _numbers(series)
    if numbers is not None:
        numbers = numbers.astype("float64")
        if not ((series.notna() & numbers.isna()) | (numbers.notna() & ~np.isfinite(numbers))).any():
            return numbers
    # Read one by one, so that the refusal says what is wrong with the value ('1e400' is too large, not text).
    return _one_by_one(series, column, _float_value, "Float64").astype("float64")


def _booleans(series: pd.Series, column: str) -> pd.Series:
    def to_bool(v: Any) -> Any:
        if _is_bool(v):
            return bool(v)
        if isinstance(v, dict | list):
            return None
        text = str(v).strip().lower()
        return True if text in TRUE else False if text in FALSE else None

    kind = _inferred(series)
    if kind == "boolean":
        return series.astype("boolean")
    if kind == "string":  # a CSV's column: looked up whole rather than value by value
        words = series.str.strip().str.lower()
        converted = words.map(dict.fromkeys(TRUE, True) | dict.fromkeys(FALSE, False))
    else:
        converted = series.map(to_bool, na_action="ignore")
    _first_bad(series.notna() & converted.isna(), series, column, "true or false")
    return converted.astype("boolean")


def texts(series: pd.Series, column: str) -> pd.Series:
    """Text PostgreSQL can store: no NUL, valid UTF-8 (no lone surrogate), not an object or a list."""
    present = series.notna()
    if _inferred(series) not in PLAIN_SCALARS | {"boolean"}:
        nested = series.map(lambda v: isinstance(v, dict | list), na_action="ignore").fillna(False).astype(bool)
        _first_bad(nested, series, column, "text, a number or a boolean (not an object or a list)")
    out = series.where(~present, series.astype(str))
    text = out[present].astype(str)
    joined = "".join(text)  # one pass in C for the usual case, where nothing is wrong
    if "\x00" in joined:
        _first_bad(text.str.contains("\x00", regex=False).reindex(series.index, fill_value=False), series, column,
                   "text without NUL characters (\\u0000), which PostgreSQL cannot store")
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        _first_bad(text.str.contains(SURROGATES).reindex(series.index, fill_value=False), series, column,
                   "text that is valid Unicode (a lone surrogate such as \\ud800 cannot be stored)")
    if column in ID_COLUMNS:
        _first_bad((text.str.len() > MAX_ID_LENGTH).reindex(series.index, fill_value=False), series, column,
                   f"at most {MAX_ID_LENGTH} characters")
    return out


def coerce(series: pd.Series, kind: FeatureType, column: str) -> pd.Series:
    if kind is FeatureType.int:
        return _integers(series, column)
    if kind is FeatureType.float:
        return _floats(series, column)
    if kind is FeatureType.bool:
        return _booleans(series, column)
    return texts(series, column)


def parse_times(series: pd.Series, column: str) -> pd.Series:
    expected = f"an ISO-8601 time between the years {FIRST_YEAR} and {LAST_YEAR}, such as 2024-05-01T12:00:00Z"
    if _inferred(series) not in {"string", "datetime", "datetime64", "empty"}:
        odd = series.map(lambda v: isinstance(v, dict | list | bool), na_action="ignore").fillna(False).astype(bool)
        _first_bad(odd, series, column, expected)
    parsed: pd.Series = pd.to_datetime(series, errors="coerce", utc=True, format="ISO8601")
    _first_bad(series.notna() & parsed.isna(), series, column, expected)
    missing = parsed.isna()
    if missing.any():
        parsed = parsed.where(~missing, pd.Timestamp(datetime.now(UTC)))
    return parsed


def frame_of(rows: list[dict[str, Any]], schema: DatasetSchema, split: Split) -> pd.DataFrame:
    """JSON rows as a frame that keeps every value as sent, for `validate` to judge."""
    try:
        frame = pd.DataFrame.from_records(rows)
    except OverflowError:  # an integer beyond float64: kept as sent (objects), to be refused by name
        return pd.DataFrame(rows, dtype=object)
    for col in data_columns(schema, split):
        if col.type is FeatureType.int and col.name in frame and frame[col.name].dtype.kind == "f":
            # pandas made floats of integers beside a null or a float: read again as sent, so that no digit
            # past 2^53 is rounded away unnoticed.
            frame[col.name] = pd.Series([r.get(col.name) for r in rows], dtype=object, index=frame.index)
    return frame


def check_columns(columns: list[str], schema: DatasetSchema, split: Split, source: str = "the rows") -> None:
    """Refuse columns the split does not have, or a missing required one (`source` says where they came from)."""
    allowed = [c.name for c in data_columns(schema, split)]
    unknown = sorted(set(columns) - set(allowed))
    if unknown:
        raise Unprocessable(
            f"unknown column(s) {unknown} in {source} for dataset {schema.name!r} ({split.value}); "
            f"allowed: {allowed}"
        )
    required = {f.name for f in schema.features}
    required.add("record_id" if split is Split.production else schema.target)
    missing = sorted(required - set(columns))
    if missing:
        raise Unprocessable(f"missing column(s) {missing} in {source} for dataset {schema.name!r} ({split.value})")


def validate(frame: pd.DataFrame, schema: DatasetSchema, split: Split, source: str = "the rows") -> pd.DataFrame:
    """The rows typed in table column order; a 422 names the first problem found."""
    columns = data_columns(schema, split)
    check_columns([str(c) for c in frame.columns], schema, split, source)
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
