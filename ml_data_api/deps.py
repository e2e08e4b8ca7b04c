"""Typed dependencies of the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from conveyor.api.errors import NotFound
from conveyor.pg import Database
from conveyor.schemas.datasets import DatasetSchema, Split
from ml_data_api.catalog import Catalog
from ml_data_api.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


def get_split(split: str) -> Split:
    try:
        return Split(split)
    except ValueError as exc:
        raise NotFound(f"unknown split {split!r}: use one of {[s.value for s in Split]}") from exc


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
SplitDep = Annotated[Split, Depends(get_split)]


async def get_schema(name: str, catalog: CatalogDep) -> DatasetSchema:
    # On the app's loop: an unknown dataset is looked up with the process's queue_manager client.
    return await catalog.get(name)


SchemaDep = Annotated[DatasetSchema, Depends(get_schema)]
