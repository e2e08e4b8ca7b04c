"""The retraining dashboard's start form as a RunCreate: what to train on, over which window, held out how."""

from __future__ import annotations

from datetime import UTC, datetime

from conveyor.schemas.retraining import Holdout, HoldoutSource, RunCreate, TrainingData, TrainingSource

SOURCES = {TrainingSource.training: "training split",
           TrainingSource.production: "labelled production rows",
           TrainingSource.training_and_production: "training split + labelled production rows"}
HOLDOUTS = {HoldoutSource.testing: "testing split", HoldoutSource.production: "latest labelled production rows"}


def model_value(dataset: str, algorithm: str, service: str) -> str:
    return f"{dataset}|{algorithm}|{service}"


def parse_when(text: str | None, what: str) -> datetime | None:
    """An ISO 8601 time typed by a person (UTC when it names no zone); a sentence when it is not one."""
    if not text or not text.strip():
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{what} {text.strip()!r} is not a time: write it as 2026-12-01 10:00 (UTC)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def run_request(model: str, source: str, start: str | None, end: str | None, holdout: str,
                holdout_rows: int | None, include: list[str] | None, auto_promote: bool,
                margin: float | None) -> RunCreate:
    """The run the form asks for; ValueError (pydantic's included) with a sentence when it is not one."""
    dataset, algorithm, service = model.split("|", 2)
    held = HoldoutSource(holdout)
    return RunCreate(
        dataset=dataset, algorithm=algorithm, service=service,
        training=TrainingData(source=TrainingSource(source), start=parse_when(start, "training start"),
                              end=parse_when(end, "training end")),
        holdout=Holdout(source=held, last=holdout_rows or 1000) if held == HoldoutSource.production
        else Holdout(source=held),
        include=include or None, auto_promote=auto_promote, margin=margin or 0.0)
