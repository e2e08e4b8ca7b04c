"""The reference system's insert URL, kept working."""

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from conveyor.api.errors import Unprocessable
from conveyor.schemas.data import InsertResult, LegacyInsert
from conveyor.schemas.datasets import Split
from ml_data_api.deps import CatalogDep, DbDep
from ml_data_api.routes.rows import write_rows

router = APIRouter(prefix="/ml_data_api", tags=["reference URLs"])


def _target(body: LegacyInsert) -> tuple[str, Split]:
    if body.split:
        try:
            return body.table_name, Split(body.split)
        except ValueError:
            pass
    for split in Split:
        suffix = f"_{split.value}"
        if body.table_name.endswith(suffix) and len(body.table_name) > len(suffix):
            return body.table_name[: -len(suffix)], split
    raise Unprocessable(
        f"table_name {body.table_name!r} is not '<dataset>_training', '<dataset>_testing' or "
        "'<dataset>_production' (or give a dataset name with split)"
    )


@router.post("/insert_data/", response_model=InsertResult)
async def insert_data(body: LegacyInsert, db: DbDep, catalog: CatalogDep) -> InsertResult:
    dataset, split = _target(body)
    schema = await catalog.get(dataset)
    return await run_in_threadpool(write_rows, db, catalog, schema, split, body.data)
