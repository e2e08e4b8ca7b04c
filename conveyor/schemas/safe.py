"""Value types for what reaches PostgreSQL or MongoDB: refused at the door with a sentence, not by the store.

Python's ints and datetimes are wider than the stores' (bigint and BSON int64; PostgreSQL's time zone offsets),
and both stores refuse NUL in text; a value outside them used to surface as a 500 from deep inside a query.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, Field

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_JSON_DEPTH = 32
# PostgreSQL accepts UTC offsets up to 15:59 either way (a time zone displacement out of range otherwise).
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)

Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]


def check_json_value(value: Any, where: str, depth: int = 0) -> None:
    """Raise ValueError (with a sentence) when `value` holds what neither store can keep."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"{where} is nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"{where}: the integer {value} is outside -2^63..2^63-1; send it as a string or a float")
        return
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where}: text holds a NUL character (\\u0000), which the stores cannot keep")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            check_json_value(str(key), f"{where} (a key)", depth + 1)
            check_json_value(item, f"{where}.{key}", depth + 1)
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_json_value(item, f"{where}[{index}]", depth + 1)


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    check_json_value(value, "the object")
    return value


def _pg_datetime(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    offset = value.utcoffset() or timedelta(0)
    if abs(offset) > MAX_UTC_OFFSET:
        raise ValueError(f"the UTC offset {value.isoformat()[-6:]} is outside -15:59..+15:59, the range "
                         "PostgreSQL accepts; give the time in UTC (with Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # pydantic lets it through as an error of ours: make it a validation error
        raise ValueError(f"{value.isoformat()} is outside the years 1..9999 once moved to UTC; "
                         "give a time within them") from None


JsonObject = Annotated[dict[str, Any], AfterValidator(_json_object)]
PgDatetime = Annotated[datetime, AfterValidator(_pg_datetime)]
