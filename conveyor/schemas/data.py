"""Rows, labels and counts of the ML data store."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

# Columns that production rows carry beside the dataset's own.
PRODUCTION_COLUMNS = (
    "record_id", "prediction", "model_name", "model_version", "job_id", "service",
    "model_role", "shadow_prediction", "shadow_model_name", "shadow_model_version",
)


# Rows (or labels) in one request, whatever their size in bytes (MAX_BODY_MB, MAX_UPLOAD_MB bound that): a batch
# is validated and typed whole in memory before it is written. `conveyor load` sends 10,000 at a time.
MAX_BATCH_ROWS = 200_000


class RowsInsert(BaseModel):
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH_ROWS,
                                       description=f"at most {MAX_BATCH_ROWS:,} rows")


class InsertResult(BaseModel):
    inserted: int
    duplicates: int = Field(default=0, description="production rows already stored (same record_id)")
    duplicate_record_ids: list[str] = Field(
        default_factory=list, description="the record_ids of the production rows that were stored before this "
        "call (a redelivery): their rows are kept as they were; a record_id repeated within the call is not one")


class Label(BaseModel):
    record_id: str = Field(min_length=1, max_length=200)
    label: Any


class LabelsPost(BaseModel):
    labels: list[Label] = Field(min_length=1, max_length=MAX_BATCH_ROWS)
    append_to_training: bool = False


class LabelsResult(BaseModel):
    updated: int
    unknown: list[str] = Field(default_factory=list, description="record_ids with no production row")
    appended_to_training: int = 0


class Counts(BaseModel):
    training: int
    testing: int
    production: int
    labeled: int


class RowsPage(BaseModel):
    dataset: str
    split: str
    total: int
    limit: int
    offset: int
    rows: list[dict[str, Any]]


class LegacyInsert(BaseModel):
    """The reference system's body: a table name and rows."""

    table_name: str = Field(max_length=100, description="'<dataset>_<split>', or a dataset name with `split`")
    data: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH_ROWS)
    split: str | None = Field(default=None, max_length=20)
