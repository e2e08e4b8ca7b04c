"""Turn a message into a record of the dataset, or say exactly why it cannot be one.

Two forms are accepted: named `{"record_id", "timestamp", "features": {name: value}}` and
the reference system's positional `{"<payload key>": [v1, v2, ...]}` in the dataset's
feature order. Features the dataset does not have are ignored (the job keeps the payload).
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from conveyor.schemas.datasets import DatasetSchema, FeatureType


class InvalidMessage(ValueError):
    """The message can never succeed: it goes to the dead-letter queue with this reason."""


@dataclass
class Record:
    record_id: str
    timestamp: datetime
    features: dict[str, Any]
    payload: Any
    published_at: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def _check(name: str, kind: FeatureType, value: Any) -> Any:
    if value is None:
        raise InvalidMessage(f"feature {name!r} is null; a value of type {kind.value} is required")
    if kind is FeatureType.float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidMessage(f"feature {name!r} is {value!r}, expected a number (float)")
        if not math.isfinite(value):
            raise InvalidMessage(f"feature {name!r} is {value!r}, expected a finite number")
        return float(value)
    if kind is FeatureType.int:
        if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
            raise InvalidMessage(f"feature {name!r} is {value!r}, expected an integer")
        return int(value)
    if kind is FeatureType.bool:
        if not isinstance(value, bool):
            raise InvalidMessage(f"feature {name!r} is {value!r}, expected true or false")
        return value
    if not isinstance(value, str):
        raise InvalidMessage(f"feature {name!r} is {value!r}, expected a string")
    return value


def _time(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidMessage(f"timestamp {value!r} is not an ISO-8601 time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse(
    body: bytes, schema: DatasetSchema, payload_key: str, *, message_id: str | None = None,
    timestamp: datetime | None = None, headers: dict[str, Any] | None = None,
) -> Record:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidMessage(f"the message is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidMessage("the message must be a JSON object")
    names = schema.feature_names
    if "features" in payload:
        given = payload["features"]
        if not isinstance(given, dict):
            raise InvalidMessage('"features" must be an object of feature name to value')
        missing = [n for n in names if n not in given]
        if missing:
            raise InvalidMessage(f"missing feature(s) {missing} of dataset {schema.name!r}")
        values = [given[n] for n in names]
    elif payload_key in payload:
        values = payload[payload_key]
        if not isinstance(values, list):
            raise InvalidMessage(f'"{payload_key}" must be a list of {len(names)} values in the order {names}')
        if len(values) != len(names):
            raise InvalidMessage(
                f'"{payload_key}" has {len(values)} values, dataset {schema.name!r} needs {len(names)}: {names}'
            )
    else:
        raise InvalidMessage(f'the message has neither "features" nor "{payload_key}"')
    features = {f.name: _check(f.name, f.type, v) for f, v in zip(schema.features, values, strict=True)}
    record = Record(
        record_id=str(payload.get("record_id") or message_id or ""),
        timestamp=_time(payload["timestamp"]) if payload.get("timestamp") else (timestamp or datetime.now(UTC)),
        features=features,
        payload=payload,
    )
    if not record.record_id:
        record.record_id = f"gen-{uuid.uuid4()}"
        record.notes["record_id_generated"] = True
    if record.timestamp.tzinfo is None:
        record.timestamp = record.timestamp.replace(tzinfo=UTC)
    published = (headers or {}).get("x-published-at") or payload.get("published_at")
    if isinstance(published, str):  # the data source's header: a float's digits (AMQP floats are 32-bit)
        try:
            published = float(published)
        except ValueError:
            published = None
    if isinstance(published, int | float):
        record.published_at = float(published)
    return record


def record_id_of(body: bytes, message_id: str | None) -> str:
    """The best id for a message that could not be parsed."""
    try:
        payload = json.loads(body)
        if isinstance(payload, dict) and payload.get("record_id"):
            return str(payload["record_id"])
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    return message_id or f"gen-{uuid.uuid4()}"
