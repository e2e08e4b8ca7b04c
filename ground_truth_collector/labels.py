"""Where a record's true label comes from, and whether it ever arrives."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass
class LabelSource:
    """Labels by record_id: from a record_id column, or by row index in data_source's ids.

    data_source names records `<run>-<row>-<loop>` when the file has no id column, so the
    row index in the id finds the label in the same file.
    """

    frame: pd.DataFrame
    label_column: str
    record_id_column: str | None = None

    def __post_init__(self) -> None:
        if self.label_column not in self.frame:
            raise ValueError(f"label column {self.label_column!r} is not in the file: {list(self.frame.columns)}")
        self._labels = self.frame[self.label_column].tolist()
        self._by_id = (
            dict(zip(self.frame[self.record_id_column].astype(str), self._labels, strict=True))
            if self.record_id_column else None
        )

    def label(self, record_id: str) -> Any | None:
        if self._by_id is not None:
            if record_id in self._by_id:
                return self._by_id[record_id]
            base = record_id.rsplit("-", 1)[0]  # a looped record: <id>-<loop>
            return self._by_id.get(base)
        parts = record_id.rsplit("-", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        row = int(parts[1])
        return self._labels[row] if row < len(self._labels) else None


def arrives(record_id: str, missing_share: float, seed: int) -> bool:
    """Like a labeller who answers with some probability: the same record always gets the same answer."""
    if missing_share <= 0:
        return True
    digest = hashlib.sha256(f"{seed}:{record_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 >= missing_share
