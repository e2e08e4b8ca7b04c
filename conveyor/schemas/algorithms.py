"""Algorithms (models): named, versioned files with a stage."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class Stage(StrEnum):
    staging = "staging"
    production = "production"
    archived = "archived"


class StageChange(BaseModel):
    stage: Stage
    at: datetime
    by: str = ""
    reason: str = ""


class AlgorithmRef(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    version: int = Field(ge=1)


class StoredFile(BaseModel):
    filename: str
    size: int
    sha256: str


class Algorithm(BaseModel):
    name: str
    version: int
    dataset: str
    framework: str = ""
    description: str = ""
    metrics: dict[str, Any] = Field(default_factory=dict)
    stage: Stage
    stage_history: list[StageChange] = Field(default_factory=list)
    file: StoredFile
    config_file: StoredFile | None = None
    created_at: datetime
    created_by: str = ""


class StageUpdate(BaseModel):
    stage: Stage
    reason: str = ""
    by: str = ""
    archive_previous: bool = Field(
        default=True,
        description="when promoting to production, archive the name's other production version",
    )


class AlgorithmPatch(BaseModel):
    """Fields of a version that may change after upload; the file and the stage have their own routes."""

    description: str | None = None
    metrics: dict[str, Any] | None = None
