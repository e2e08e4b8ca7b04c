"""What a run trains and scores on, fetched from ml_data_api, and which model versions it compares.

Production rows carry their ground truth in `label`; here it becomes the dataset's
target column, so training, testing and production rows look alike to PyCaret and to
`evaluate`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from conveyor.api.errors import NotFound, Unavailable, Unprocessable
from conveyor.clients import APIUnavailable, MLDataClient, QueueManagerClient
from conveyor.schemas.algorithms import Algorithm, HoldoutSplit, HoldoutWindow, Stage
from conveyor.schemas.datasets import DatasetSchema
from conveyor.schemas.retraining import EvaluateOn, Holdout, HoldoutSource, RunCreate, TrainingData, TrainingSource
from conveyor.windows import WindowSpec, count, fetch

LABEL = "label"
RECORD_ID = "record_id"


async def versions_of(qm: QueueManagerClient, name: str) -> list[Algorithm]:
    if not name:  # queue_manager reads an empty name filter as none: every model's versions would answer
        raise Unprocessable("a model name is needed: give model_name=NAME (GET /queue_manager/algorithms lists them)")
    try:
        found = await qm.list_algorithms(name=name)
    except APIUnavailable as exc:
        raise Unavailable(f"queue_manager is unreachable: {exc}") from exc
    return [a for a in found if a.name == name]


def current_version(versions: list[Algorithm]) -> Algorithm | None:
    """The version in production, else the newest one: what a retrained model must beat."""
    production = [a for a in versions if a.stage is Stage.production]
    pool = production or versions
    return max(pool, key=lambda a: a.version) if pool else None


def pick_version(versions: list[Algorithm], name: str, version: int | None) -> Algorithm:
    """A version of the name's list: the one asked for, else the current one (see `current_version`)."""
    current = current_version(versions)
    if current is None:
        raise NotFound(f"unknown model {name!r}: queue_manager has no versions of it")
    if version is None:
        return current
    for algorithm in versions:
        if algorithm.version == version:
            return algorithm
    raise NotFound(f"model {name!r} has no version {version}; it has {sorted(a.version for a in versions)}")


async def resolve_version(qm: QueueManagerClient, name: str, version: int | None) -> Algorithm:
    return pick_version(await versions_of(qm, name), name, version)


def _labelled(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """Production rows with their label as the target column; unlabelled rows dropped."""
    if frame.empty:
        return frame
    frame = frame[frame[LABEL].notna()].drop(columns=[schema.target], errors="ignore")
    return frame.rename(columns={LABEL: schema.target})


async def _rows(ml: MLDataClient, schema: DatasetSchema, spec: WindowSpec, cap: int) -> pd.DataFrame:
    frame = await fetch(ml, schema, spec, cap)
    rows = frame.rows
    return _labelled(rows, schema) if spec.split == "production" else rows


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def production_start(training: TrainingData) -> datetime | None:
    """Where the production rows a run trains on begin: the later of start and production_start."""
    starts = [_aware(t) for t in (training.start, training.production_start) if t is not None]
    return max(starts) if starts else None


def training_specs(training: TrainingData, service: str | None = None) -> list[WindowSpec]:
    specs = []
    if training.source in (TrainingSource.training, TrainingSource.training_and_production):
        specs.append(WindowSpec("training", start=training.start, end=training.end))
    if training.source in (TrainingSource.production, TrainingSource.training_and_production):
        specs.append(WindowSpec("production", start=production_start(training), end=training.end, labeled=True,
                                service=service))
    return specs


def holdout_spec(holdout: Holdout, service: str | None = None) -> WindowSpec:
    if holdout.source is HoldoutSource.testing:
        return WindowSpec("testing")
    return WindowSpec("production", start=holdout.start, last=holdout.last, labeled=True, service=service)


def evaluation_spec(evaluate_on: EvaluateOn) -> WindowSpec:
    return WindowSpec(evaluate_on.value, labeled=True if evaluate_on is EvaluateOn.production else None)


def labels_spec(request: RunCreate) -> WindowSpec:
    """The labelled rows a waiting run counts: production rows of its service since its post-drift start."""
    since = request.labels_since()
    return WindowSpec("production", start=_aware(since) if since else None, labeled=True, service=request.service)


def holdout_window(holdout: pd.DataFrame, schema: DatasetSchema, source: HoldoutSource,
                   service: str | None) -> HoldoutWindow | None:
    """The rows a new version's metrics were scored on, as queue_manager records them: the testing split, or
    production rows of one service between the first and last holdout row's timestamps."""
    if holdout.empty:
        return None
    if source is HoldoutSource.testing:
        return HoldoutWindow(split=HoldoutSplit.testing, rows=len(holdout))
    services: list[str] = sorted(holdout["service"].dropna().astype(str).unique()) if "service" in holdout else []
    named = service or (services[0] if len(services) == 1 else None)
    if named is None:  # rows of several services: no window names them
        return None
    times = pd.to_datetime(holdout[schema.timestamp_column], utc=True)
    return HoldoutWindow(split=HoldoutSplit.production, service=named, start=times.min().to_pydatetime(),
                         end=times.max().to_pydatetime(), rows=len(holdout))


async def check_available(ml: MLDataClient, schema: DatasetSchema, training: TrainingData, holdout: Holdout,
                          service: str | None = None) -> None:
    """Refuse, before queueing, a run that has nothing to train on or no labelled rows to score on."""
    training_rows = sum([await count(ml, schema, s) for s in training_specs(training, service)])
    if training_rows == 0:
        window = f" between {training.start or 'the beginning'} and {training.end or 'now'}" \
            if training.start or training.end else ""
        raise Unprocessable(f"no {training.source.value} rows of dataset {schema.name!r}{window} to train on: "
                            "widen the training window or load training rows")
    holdout_rows = await count(ml, schema, holdout_spec(holdout, service))
    if holdout_rows == 0:
        what = "testing rows" if holdout.source is HoldoutSource.testing else "labelled production rows"
        raise Unprocessable(f"the holdout has no {what} of dataset {schema.name!r}: load testing rows or "
                            "post labels, or pick the other holdout source")


async def training_frame(ml: MLDataClient, schema: DatasetSchema, training: TrainingData, cap: int,
                         service: str | None = None) -> pd.DataFrame:
    frames = [await _rows(ml, schema, spec, cap) for spec in training_specs(training, service)]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


async def holdout_frame(ml: MLDataClient, schema: DatasetSchema, holdout: Holdout, cap: int,
                        service: str | None = None) -> pd.DataFrame:
    return await _rows(ml, schema, holdout_spec(holdout, service), cap)


async def evaluation_frame(ml: MLDataClient, schema: DatasetSchema, evaluate_on: EvaluateOn,
                           cap: int) -> pd.DataFrame:
    return await _rows(ml, schema, evaluation_spec(evaluate_on), cap)


def without_holdout(training: pd.DataFrame, holdout: pd.DataFrame) -> pd.DataFrame:
    """Production rows used as holdout are never also trained on."""
    if training.empty or holdout.empty or RECORD_ID not in training or RECORD_ID not in holdout:
        return training
    keep = ~training[RECORD_ID].isin(set(holdout[RECORD_ID].dropna()))
    return training[keep].reset_index(drop=True)


async def unlabelled_production(ml: MLDataClient, schema: DatasetSchema, cap: int) -> pd.DataFrame:
    """Production rows without labels: enough to explain predictions, not to score them."""
    rows = (await fetch(ml, schema, WindowSpec("production"), cap)).rows
    return rows.drop(columns=[LABEL, schema.target], errors="ignore")
