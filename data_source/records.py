"""Rows as messages: the named and the positional form, drift, and deliberately bad ones."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

MALFORMED_KINDS = ("bad_json", "missing_feature", "mistyped", "wrong_length")


@dataclass(frozen=True)
class DriftSpec:
    features: tuple[str, ...]
    shift: float = 0.0
    scale: float = 1.0
    from_row: int | None = None
    after_seconds: float | None = None

    def active(self, index: int, elapsed: float) -> bool:
        if self.from_row is not None and index >= self.from_row:
            return True
        return self.after_seconds is not None and elapsed >= self.after_seconds


@dataclass
class MessageFactory:
    frame: pd.DataFrame
    features: list[str]
    run_id: str
    fmt: str = "named"
    payload_key: str = "data"
    timestamp_column: str | None = None
    record_id_column: str | None = None
    timestamps: str = "now"
    drift: list[DriftSpec] = field(default_factory=list)
    malformed_share: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        missing = [f for f in self.features if f not in self.frame.columns]
        if missing:
            raise ValueError(f"feature(s) {missing} are not columns of the file: {list(self.frame.columns)}")
        self._values = self.frame[self.features].to_numpy(dtype=float)
        self._times = (
            pd.to_datetime(self.frame[self.timestamp_column], utc=True)
            if self.timestamp_column and self.timestamp_column in self.frame else None
        )
        self._ids = self.frame[self.record_id_column].astype(str).tolist() if self.record_id_column else None
        self._column = {name: i for i, name in enumerate(self.features)}

    def record_id(self, index: int) -> str:
        row, loop = divmod(index, len(self.frame))[::-1]
        base = self._ids[row] if self._ids else f"{self.run_id}-{row}"
        return base if loop == 0 and self._ids else f"{base}-{loop}"

    def malformed_kind(self, index: int) -> str | None:
        if self.malformed_share <= 0:
            return None
        rng = np.random.default_rng((self.seed, index))
        if rng.random() >= self.malformed_share:
            return None
        return MALFORMED_KINDS[int(rng.integers(len(MALFORMED_KINDS)))]

    def values(self, index: int, elapsed: float) -> list[float | None]:
        values = self._values[index % len(self.frame)].copy()
        for spec in self.drift:
            if spec.active(index, elapsed):
                for name in spec.features:
                    column = self._column[name]
                    values[column] = values[column] * spec.scale + spec.shift
        return [None if math.isnan(v) else float(v) for v in values]  # JSON has no NaN: a gap is null

    def build(self, index: int, elapsed: float, now: datetime | None = None) -> tuple[str, bytes, str | None]:
        """(record_id, body, malformed kind or None)."""
        record_id = self.record_id(index)
        now = now or datetime.now(UTC)
        if self.timestamps == "file" and self._times is not None:
            stamp = self._times.iloc[index % len(self.frame)].isoformat()
        else:
            stamp = now.isoformat()
        values: list[Any] = self.values(index, elapsed)
        kind = self.malformed_kind(index)
        body: dict[str, Any]
        if kind == "bad_json":
            return record_id, b'{"record_id": "' + record_id.encode() + b'", "features": {broken', kind
        if kind == "wrong_length":
            return record_id, json.dumps({self.payload_key: values[:-1]}).encode(), kind
        if self.fmt == "positional":
            if kind == "mistyped":
                values[0] = "abc"
            if kind == "missing_feature":
                values = values[:-1]
            body = {self.payload_key: values}
        else:
            features = dict(zip(self.features, values, strict=True))
            if kind == "mistyped":
                features[self.features[0]] = "abc"
            if kind == "missing_feature":
                features.pop(self.features[-1])
            body = {"record_id": record_id, "timestamp": stamp, "features": features}
        return record_id, json.dumps(body).encode(), kind
