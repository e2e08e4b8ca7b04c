"""Typed dependencies of the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from conveyor.api.errors import NotFound
from conveyor.api.state import from_app_state
from conveyor.pg import Database
from conveyor.schemas.datasets import DatasetSchema, Split
from ml_data_api.catalog import Catalog
from ml_data_api.settings import Settings


def get_split(split: str) -> Split:
    try:
        return Split(split)
    except ValueError as exc:
        raise NotFound(f"unknown split {split!r}: use one of {[s.value for s in Split]}") from exc


SettingsDep = Annotated[Settings, Depends(from_app_state("settings"))]
DbDep = Annotated[Database, Depends(from_app_state("db"))]
CatalogDep = Annotated[Catalog, Depends(from_app_state("catalog"))]
SplitDep = Annotated[Split, Depends(get_split)]


async def get_schema(name: str, catalog: CatalogDep) -> DatasetSchema:
    # On the app's loop: an unknown dataset is looked up with the process's queue_manager client.
    return await catalog.get(name)


SchemaDep = Annotated[DatasetSchema, Depends(get_schema)]
