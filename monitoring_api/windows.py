"""The reference and current windows of a report (fetched by `conveyor.windows.fetch`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conveyor.api.errors import Unprocessable
from conveyor.schemas.monitoring import Reference
from conveyor.windows import WindowSpec


def current_spec(service: str | None, rows: int | None, hours: float | None, start: datetime | None,
                 end: datetime | None, labeled: bool | None = None) -> WindowSpec:
    if hours is not None:
        start = datetime.now(UTC) - timedelta(hours=hours)
    if rows is None and start is None and end is None:
        rows = 1000
    return WindowSpec("production", start=start, end=end, last=rows, labeled=labeled, service=service)


def reference_spec(reference: Reference, start: datetime | None, end: datetime | None,
                   service: str | None) -> WindowSpec:
    if reference is Reference.window:
        if start is None and end is None:
            raise Unprocessable("reference=window needs reference_start and/or reference_end")
        return WindowSpec("production", start=start, end=end, service=service)
    return WindowSpec(reference.value)
