import io
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from conveyor.api.errors import BadRequest, PayloadTooLarge, Unprocessable
from conveyor.pg import Database
from conveyor.schemas.data import InsertResult, RowsInsert, RowsPage
from conveyor.schemas.datasets import DatasetSchema, Split
from ml_data_api import ingest, queries
from ml_data_api.catalog import Catalog
from ml_data_api.deps import CatalogDep, DbDep, SchemaDep, SettingsDep, SplitDep
from ml_data_api.validation import validate

router = APIRouter(prefix="/ml_data_api/datasets", tags=["rows"])


class Format(StrEnum):
    json = "json"
    csv = "csv"


def write_rows(
    db: Database, catalog: Catalog, schema: DatasetSchema, split: Split, rows: list[dict[str, Any]] | pd.DataFrame
) -> InsertResult:
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame.from_records(rows)
    typed = validate(frame, schema, split)
    inserted, duplicates = ingest.insert(db, schema, split, typed, catalog.timescale(schema.name))
    return InsertResult(inserted=inserted, duplicates=duplicates)


@router.post("/{name}/{split}/rows", response_model=InsertResult)
def insert_rows(
    body: RowsInsert, schema: SchemaDep, split: SplitDep, db: DbDep, catalog: CatalogDep
) -> InsertResult:
    return write_rows(db, catalog, schema, split, body.rows)


@router.post("/{name}/{split}/csv", response_model=InsertResult)
async def upload_csv(
    request: Request,
    file: Annotated[UploadFile, File(description="CSV with a header row")],
    schema: SchemaDep, split: SplitDep, db: DbDep, catalog: CatalogDep, settings: SettingsDep,
) -> InsertResult:
    content = await file.read(settings.max_upload_bytes + 1)
    if len(content) > settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"the CSV is larger than the limit of {settings.max_upload_bytes / 1024 / 1024:g} MB (MAX_UPLOAD_MB); "
            "split it or use `conveyor load`, which sends it in batches"
        )
    try:
        frame = pd.read_csv(io.BytesIO(content), dtype=object, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise Unprocessable(f"the file is not a readable CSV: {exc}") from exc
    if frame.empty:
        raise Unprocessable("the CSV has no rows")
    frame = frame.astype(object).where(frame.notna(), None)
    return await run_in_threadpool(write_rows, db, catalog, schema, split, frame)


@router.get("/{name}/{split}/rows", response_model=RowsPage, responses={200: {"content": {"text/csv": {}}}})
def read_rows(
    schema: SchemaDep, split: SplitDep, db: DbDep, settings: SettingsDep,
    start: datetime | None = None,
    end: datetime | None = None,
    last: Annotated[int | None, Query(ge=1, description="the last N rows by time")] = None,
    labeled: bool | None = None,
    service: str | None = None,
    sample: Annotated[int | None, Query(ge=1, description="a reproducible sample of N rows")] = None,
    limit: Annotated[int, Query(ge=1)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
    format: Format = Format.json,
) -> Any:
    # CSV is cheap to produce and to read: it may carry far larger pages than JSON.
    cap = settings.max_page_rows * (100 if format is Format.csv else 1)
    if limit > cap:
        raise BadRequest(f"limit {limit} is above the page cap of {cap} for {format.value}; page with offset")
    if start and end and start >= end:
        raise BadRequest("start must be before end")
    window = queries.Window(start=start, end=end, last=last, labeled=labeled, service=service, sample=sample)
    if format is Format.csv:
        return Response(queries.csv(db, schema, split, window, limit, offset), media_type="text/csv")
    total, rows = queries.page(db, schema, split, window, limit, offset)
    return RowsPage(dataset=schema.name, split=split.value, total=total, limit=limit, offset=offset, rows=rows)
