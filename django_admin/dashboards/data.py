"""What the dashboards show, fetched from the platform's APIs as plain frames and lists."""

from __future__ import annotations

from typing import Any

import pandas as pd

from conveyor.schemas.challenger import ChallengerSeries
from conveyor.schemas.data import Counts
from conveyor.schemas.datasets import Dataset
from conveyor.schemas.monitoring import Alert, CheckPoint, EpisodePage
from conveyor.schemas.services import Service
from django_admin import platform
from django_admin.platform import PlatformError

STREAMING_WINDOW_MINUTES = 15  # a service whose workers finished jobs this recently streams


def services() -> list[Service]:
    try:
        return platform.qm(lambda c: c.list_services())
    except PlatformError:
        return []


def datasets() -> list[Dataset]:
    try:
        return platform.qm(lambda c: c.list_datasets())
    except PlatformError:
        return []


def predictions_and_labels(service: Service, rows: int = 300) -> pd.DataFrame:
    """The latest predictions, and the latest labelled ones (labels arrive later than predictions)."""
    def latest(**filters: Any) -> list[dict[str, Any]]:
        return platform.ml(lambda c: c.rows(service.dataset, "production", last=rows, service=service.name,
                                            limit=rows, **filters)).rows

    frame = pd.DataFrame(latest() + latest(labeled=True))
    if frame.empty:
        return pd.DataFrame(columns=["at", "prediction", "label"])
    frame = frame.drop_duplicates("record_id") if "record_id" in frame else frame
    time_column = next((c for c in ("inserted_at", "timestamp") if c in frame), frame.columns[0])
    return frame.rename(columns={time_column: "at"})[["at", "prediction", "label"]].sort_values("at")


def _counts(dataset: str) -> Counts:
    return platform.ml(lambda c: c.counts(dataset))


def row_counts() -> pd.DataFrame:
    out = []
    for dataset in datasets():
        try:
            counts = _counts(dataset.name)
        except PlatformError:
            continue
        for table, value in counts.model_dump().items():
            out.append({"dataset": dataset.name, "table": table, "rows": value})
    return pd.DataFrame(out, columns=["dataset", "table", "rows"])


def checks(service: str) -> list[CheckPoint]:
    return platform.monitoring(lambda c: c.checks(service, limit=500))


def alerts(service: str) -> list[Alert]:
    return platform.monitoring(lambda c: c.alerts(service, limit=500))


def dataset(name: str) -> Dataset | None:
    return next((d for d in datasets() if d.name == name), None)


def streaming_service(services: list[Service]) -> str | None:
    """The first service (in the registry's order) that streams: its latest checks saw rows, or, before
    any check, its workers finished jobs lately. A service nobody feeds is a poor first page."""
    names = [s.name for s in services]
    if not names:
        return None
    try:
        latest = platform.monitoring(lambda c: c.checks(limit=10 * len(names)))
    except PlatformError:
        latest = []
    streaming = {c.service for c in latest if c.rows_current > 0}
    if not streaming:
        # Which services' workers wrote jobs lately: the stats' per-worker aggregates, not a scan of the log.
        try:
            stats = platform.qm(lambda c: c.job_stats(window_minutes=STREAMING_WINDOW_MINUTES))
            streaming = {w.service for w in stats.workers if w.finished}
        except PlatformError:
            streaming = set()
    return next((n for n in names if n in streaming), names[0])


def episodes(service: str, limit: int, offset: int = 0) -> EpisodePage:
    """Alert episodes of the service, newest first."""
    return platform.monitoring(lambda c: c.episodes(service=service, limit=limit, offset=offset))


def challenger_history(service: str, limit: int = 500) -> ChallengerSeries:
    """The service's scheduled champion-vs-challenger comparisons, oldest first."""
    return platform.monitoring(lambda c: c.challenger_history(service, limit=limit))
