"""Windows of a dataset's rows fetched from ml_data_api as frames, sampled to a cap.

monitoring_api compares such windows; retraining_api trains and scores on them.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from conveyor.api.errors import NotFound, Unavailable, Unprocessable
from conveyor.clients import APIError, APIUnavailable, MLDataClient
from conveyor.schemas.datasets import DatasetSchema


@dataclass(frozen=True)
class WindowSpec:
    """Which rows: a split and filters; `last` or a time range."""

    split: str
    start: datetime | None = None
    end: datetime | None = None
    last: int | None = None
    labeled: bool | None = None
    service: str | None = None


@dataclass
class Frame:
    rows: pd.DataFrame
    total: int  # rows in the window before sampling

    @property
    def sampled(self) -> bool:
        return len(self.rows) < self.total


def _params(spec: WindowSpec) -> dict[str, Any]:
    return {
        "start": spec.start.isoformat() if spec.start else None, "end": spec.end.isoformat() if spec.end else None,
        "last": spec.last, "labeled": None if spec.labeled is None else str(spec.labeled).lower(),
        "service": spec.service,
    }


@contextmanager
def _answers() -> Iterator[None]:
    """ml_data_api's refusals and outages as this service's own errors."""
    try:
        yield
    except APIError as exc:
        if exc.status_code == 404:
            raise NotFound(str(exc.detail)) from exc
        raise Unprocessable(str(exc.detail)) from exc
    except APIUnavailable as exc:
        raise Unavailable(f"ml_data_api is unreachable: {exc}") from exc


async def count(ml: MLDataClient, schema: DatasetSchema, spec: WindowSpec) -> int:
    """How many rows the window holds, without fetching them."""
    with _answers():
        return (await ml.rows(schema.name, spec.split, limit=1, **_params(spec))).total


async def fetch(ml: MLDataClient, schema: DatasetSchema, spec: WindowSpec, cap: int) -> Frame:
    total = await count(ml, schema, spec)
    if total == 0:
        return Frame(pd.DataFrame(), 0)
    with _answers():
        content = await ml.rows_csv(schema.name, spec.split, limit=min(total, cap),
                                    sample=cap if total > cap else None, **_params(spec))
    return Frame(pd.read_csv(io.BytesIO(content)), total)
