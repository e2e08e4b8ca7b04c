from fastapi import APIRouter, Response
from pydantic import BaseModel

from conveyor.api.errors import NotFound, Unprocessable
from conveyor.schemas.data import Counts
from conveyor.schemas.datasets import DatasetSchema
from ml_data_api import queries
from ml_data_api.deps import CatalogDep, DatasetNamePath, DbDep, SchemaDep

router = APIRouter(prefix="/ml_data_api/datasets", tags=["datasets"])


class Registered(DatasetSchema):
    created: bool


@router.put("/{name}", response_model=Registered,
            responses={201: {"model": Registered, "description": "The dataset's tables were created."}})
def register_dataset(name: DatasetNamePath, body: DatasetSchema, catalog: CatalogDep, response: Response) -> dict:
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
def delete_dataset(name: DatasetNamePath, catalog: CatalogDep) -> Deleted:
    # Only what is here: an unknown dataset is not looked up (its tables would be made only to go).
    if not catalog.forget(name):
        raise NotFound(f"dataset {name!r} has no tables in ml_data_api: nothing to delete")
    return Deleted(deleted=name)


@router.get("/{name}/counts", response_model=Counts)
def counts(schema: SchemaDep, db: DbDep) -> dict:
    return queries.counts(db, schema)
