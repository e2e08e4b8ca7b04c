"""Names that end up as identifiers (tables, columns, queues) are validated once, here."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUEUE = re.compile(r"^[A-Za-z0-9_.:-]+$")

# PostgreSQL truncates identifiers at 63 bytes; a dataset name gets a split suffix.
MAX_DATASET_NAME = 40
MAX_COLUMN_NAME = 63
RESERVED_COLUMNS = frozenset(
    {
        "record_id", "prediction", "model_name", "model_version", "job_id", "service",
        "model_role", "shadow_prediction", "shadow_model_name", "shadow_model_version",
        "label", "label_at", "inserted_at", "row_id",
    }
)


def check_identifier(value: str, what: str, max_len: int = MAX_COLUMN_NAME) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(
            f"{what} {value!r} is not allowed: use letters, digits and underscores, "
            "starting with a letter or underscore"
        )
    if len(value) > max_len:
        raise ValueError(f"{what} {value!r} is longer than {max_len} characters")
    return value


def _dataset_name(value: str) -> str:
    return check_identifier(value, "dataset name", MAX_DATASET_NAME)


def _column_name(value: str) -> str:
    check_identifier(value, "column name")
    if value.lower() in RESERVED_COLUMNS:
        raise ValueError(f"column name {value!r} is reserved by Conveyor; rename it")
    return value


def check_resource_name(value: str) -> str:
    if not _QUEUE.match(value) or len(value) > 200:
        raise ValueError(
            f"name {value!r} is not allowed: use letters, digits, '_', '-', '.', ':' "
            "(at most 200 characters)"
        )
    return value


DatasetName = Annotated[str, AfterValidator(_dataset_name)]
ColumnName = Annotated[str, AfterValidator(_column_name)]
ResourceName = Annotated[str, AfterValidator(check_resource_name)]
