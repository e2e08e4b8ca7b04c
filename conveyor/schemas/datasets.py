"""A dataset is data: its schema, registered like any other object."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from conveyor.schemas.names import ColumnName, DatasetName, refusal


class Task(StrEnum):
    regression = "regression"
    classification = "classification"


class FeatureType(StrEnum):
    float = "float"
    int = "int"
    str = "str"
    bool = "bool"


class Split(StrEnum):
    training = "training"
    testing = "testing"
    production = "production"


class Feature(BaseModel):
    name: ColumnName
    type: FeatureType = FeatureType.float


class DatasetSchema(BaseModel):
    """What a dataset is: enough to build its tables and validate its messages."""

    model_config = ConfigDict(json_schema_extra={
        "example": {
            "name": "product_quality",
            "task": "regression",
            "features": [{"name": "H_data", "type": "float"},
                         {"name": "T_data_1_1", "type": "float"}],
            "target": "quality",
            "target_type": "float",
            "timestamp_column": "date_time",
        }
    })

    name: DatasetName
    task: Task
    features: list[Feature] = Field(min_length=1)
    target: ColumnName
    target_type: FeatureType | None = Field(
        default=None, description="defaults to float for regression, str for classification"
    )
    timestamp_column: ColumnName = "date_time"
    description: str = ""

    @field_validator("features")
    @classmethod
    def _distinct_features(cls, features: list[Feature]) -> list[Feature]:
        first: dict[str, int] = {}
        for position, feature in enumerate(features, start=1):
            seen = first.setdefault(feature.name.lower(), position)
            if seen != position:
                raise refusal("duplicate_feature", f"features {seen} and {position} are both named "
                              f"{feature.name!r} (names are compared ignoring case); rename one")
        return features

    @field_validator("target", "timestamp_column")
    @classmethod
    def _not_a_feature(cls, column: str, info: ValidationInfo) -> str:
        what = "the target" if info.field_name == "target" else "the timestamp column"
        for position, feature in enumerate(info.data.get("features") or [], start=1):
            if feature.name.lower() == column.lower():
                raise refusal("column_is_feature", f"{what} {column!r} is also feature {position}: a column "
                              "is one or the other")
        if info.field_name == "timestamp_column" and column.lower() == str(info.data.get("target", "")).lower():
            raise refusal("timestamp_is_target", "the timestamp column and the target must differ")
        return column

    @model_validator(mode="after")
    def _default_target_type(self) -> DatasetSchema:
        if self.target_type is None:
            self.target_type = self.resolved_target_type
        return self

    @property
    def resolved_target_type(self) -> FeatureType:
        """`target_type`, or the task's default where it was left out (float for regression, str otherwise)."""
        if self.target_type is not None:
            return self.target_type
        return FeatureType.float if self.task == Task.regression else FeatureType.str

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


_FIELD_LABELS = {"name": "dataset name", "target_type": "target type", "timestamp_column": "timestamp column"}


def field_label(loc: Sequence[str | int]) -> str:
    """Who a problem is about, as a person filling in the dataset form reads it: "feature 2", "target"."""
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    if not parts:
        return "the dataset"
    head = parts[0]
    if isinstance(head, int):  # a position in the body itself: it is not JSON
        return "the request body"
    if head == "features" and len(parts) > 1 and isinstance(parts[1], int):
        feature = f"feature {parts[1] + 1}"
        return feature if len(parts) == 2 or parts[2] == "name" else f"{feature}'s {parts[2]}"
    return _FIELD_LABELS.get(head, head)


def problem_sentence(error: Mapping[str, Any]) -> str:
    """One validation error of a DatasetSchema as a sentence that names the field by position."""
    label = field_label(error.get("loc", ()))
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return f"{label}: required, but missing"
    if kind == "enum":
        return f"{label}: use one of {ctx.get('expected', 'the listed values')}"
    if kind == "too_short" and label == "features":
        return "features: give at least one feature"
    if kind == "json_invalid":
        return f"the request body is not valid JSON ({ctx.get('error', 'it cannot be parsed')})"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{label}: send a JSON object"
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{label}: {message}"


def dataset_problems(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The errors of a DatasetSchema (pydantic's or a RequestValidationError's), each with a sentence as `msg`;
    `loc` and `type` stay as they were, so a form can put each message beside its field."""
    return [{"loc": list(e.get("loc", ())), "msg": problem_sentence(e), "type": str(e.get("type", "invalid"))}
            for e in errors]


class Dataset(DatasetSchema):
    """A dataset as queue_manager registers it: the schema and who made it when."""

    created_at: datetime
    created_by: str = ""

    def to_schema(self) -> DatasetSchema:
        """The schema alone, as the services that build tables or validate messages need it."""
        return DatasetSchema.model_validate(self.model_dump(include=set(DatasetSchema.model_fields)))


class DatasetDeleted(BaseModel):
    """Published on the events exchange (`dataset.<name>.deleted`) when queue_manager deletes a dataset."""

    event: str = "dataset_deleted"
    dataset: str
    created_at: datetime = Field(description="when the deleted dataset had been created")
    at: datetime
