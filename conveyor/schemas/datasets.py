"""A dataset is data: its schema, registered like any other object."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from conveyor.schemas.names import ColumnName, DatasetName


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

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSchema:
        names = [f.name.lower() for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"feature names repeat: {', '.join(dupes)}")
        for col, what in ((self.target, "target"), (self.timestamp_column, "timestamp column")):
            if col.lower() in names:
                raise ValueError(f"{what} {col!r} is also listed as a feature")
        if self.target.lower() == self.timestamp_column.lower():
            raise ValueError("target and timestamp column must differ")
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
