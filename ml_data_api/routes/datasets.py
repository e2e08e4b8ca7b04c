from fastapi import APIRouter, Response
from pydantic import BaseModel

from conveyor.api.auth import TokenDep
from conveyor.api.errors import Unprocessable
from conveyor.schemas.data import Counts
from conveyor.schemas.datasets import DatasetSchema
from ml_data_api import queries
from ml_data_api.deps import CatalogDep, DbDep, SchemaDep

router = APIRouter(prefix="/ml_data_api/datasets", tags=["datasets"])


class Registered(DatasetSchema):
    created: bool


@router.put("/{name}", response_model=Registered)
def register_dataset(_: TokenDep, name: str, body: DatasetSchema, catalog: CatalogDep, response: Response) -> dict:
    if body.name != name:
        raise Unprocessable(f"the body names dataset {body.name!r} but the URL names {name!r}")
    schema, created = catalog.register(body)
    response.status_code = 201 if created else 200
    return {**schema.model_dump(), "created": created}


@router.get("", response_model=list[DatasetSchema])
def list_datasets(catalog: CatalogDep) -> list[DatasetSchema]:
    return catalog.list()


@router.get("/{name}", response_model=DatasetSchema)
def get_dataset(schema: SchemaDep) -> DatasetSchema:
    return schema


class Deleted(BaseModel):
    deleted: str


@router.delete("/{name}", response_model=Deleted)
def delete_dataset(_: TokenDep, schema: SchemaDep, catalog: CatalogDep) -> Deleted:
    catalog.forget(schema.name)
    return Deleted(deleted=schema.name)


@router.get("/{name}/counts", response_model=Counts)
def counts(schema: SchemaDep, db: DbDep) -> dict:
    return queries.counts(db, schema)
