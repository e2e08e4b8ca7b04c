"""Typed dependencies of the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from conveyor.api.errors import NotFound
from conveyor.api.state import from_app_state
from conveyor.pg import Database
from conveyor.schemas.datasets import DatasetSchema, Split
from conveyor.schemas.names import DatasetName
from ml_data_api.catalog import Catalog
from ml_data_api.settings import Settings

# Documented as the three splits (a fuzzer then reaches the tables); any other is a 404 naming them.
SPLIT_PATH = Path(description="training, testing or production",
                  json_schema_extra={"enum": [s.value for s in Split]})


def get_split(split: Annotated[str, SPLIT_PATH]) -> Split:
    try:
        return Split(split)
    except ValueError as exc:
        raise NotFound(f"unknown split {split!r}: use one of {[s.value for s in Split]}") from exc


# Checked before the name is used anywhere (a table, a URL to queue_manager): a name no dataset can have is a
# 422 with the rule, not a lookup.
DatasetNamePath = Annotated[DatasetName, Path(description="The dataset's name (as in queue_manager).")]
SettingsDep = Annotated[Settings, Depends(from_app_state("settings"))]
DbDep = Annotated[Database, Depends(from_app_state("db"))]
CatalogDep = Annotated[Catalog, Depends(from_app_state("catalog"))]
SplitDep = Annotated[Split, Depends(get_split)]


async def get_schema(name: DatasetNamePath, catalog: CatalogDep) -> DatasetSchema:
    # On the app's loop: an unknown dataset is looked up with the process's queue_manager client.
    return await catalog.get(name)


SchemaDep = Annotated[DatasetSchema, Depends(get_schema)]
