from enum import StrEnum
from typing import Annotated, Any, BinaryIO

import pandas as pd
from fastapi import APIRouter, File, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from conveyor.api.errors import BadRequest, PayloadTooLarge, Unprocessable
from conveyor.pg import Database
from conveyor.schemas.data import MAX_BATCH_ROWS, InsertResult, RowsInsert, RowsPage
from conveyor.schemas.datasets import DatasetSchema, Split
from conveyor.schemas.safe import PgDatetime
from ml_data_api import ingest, queries
from ml_data_api.catalog import Catalog
from ml_data_api.deps import CatalogDep, DbDep, SchemaDep, SettingsDep, SplitDep
from ml_data_api.validation import frame_of, validate

router = APIRouter(prefix="/ml_data_api/datasets", tags=["rows"])

# The spooled upload is scanned in pieces of this size: never held whole beside the frame it becomes.
CSV_CHUNK_BYTES = 1024 * 1024
# Rows a window may ask for (`last`, `sample`) or skip (`offset`): far above any table here, far below bigint.
MAX_WINDOW_ROWS = 1_000_000_000
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
NEWLINE = b"\n"


class Format(StrEnum):
    json = "json"
    csv = "csv"


def write_rows(
    db: Database, catalog: Catalog, schema: DatasetSchema, split: Split, rows: list[dict[str, Any]] | pd.DataFrame,
    source: str = "the rows",
) -> InsertResult:
    frame = rows if isinstance(rows, pd.DataFrame) else frame_of(rows, schema, split)
    typed = validate(frame, schema, split, source)
    inserted, duplicates, already = ingest.insert(db, schema, split, typed, catalog.timescale(schema.name))
    return InsertResult(inserted=inserted, duplicates=duplicates, duplicate_record_ids=already)


@router.post("/{name}/{split}/rows", response_model=InsertResult)
def insert_rows(
    body: RowsInsert, schema: SchemaDep, split: SplitDep, db: DbDep, catalog: CatalogDep
) -> InsertResult:
    return write_rows(db, catalog, schema, split, body.rows)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the CSV is larger than the limit of {limit / 1024 / 1024:g} MB (MAX_UPLOAD_MB); "
        "split it or use `conveyor load`, which sends it in batches"
    )


def check_csv_bytes(file: BinaryIO, limit: int) -> None:
    """Refuse an empty file, one over `limit` bytes or one holding NUL, reading it a chunk at a time."""
    size, lines = 0, 1
    file.seek(0)
    while chunk := file.read(CSV_CHUNK_BYTES):
        if size == 0 and chunk.startswith(UTF16_BOMS):
            raise Unprocessable("the CSV is encoded as UTF-16: save it as UTF-8 and upload it again")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        at = chunk.find(b"\x00")
        if at >= 0:
            line = lines + chunk.count(NEWLINE, 0, at)
            raise Unprocessable(
                f"the CSV holds a NUL byte on line {line}, which PostgreSQL cannot "
                "store: remove it (a file full of NULs is usually UTF-16 or binary: save it as UTF-8 CSV)"
            )
        lines += chunk.count(NEWLINE)
    if size == 0:
        raise Unprocessable("the file is empty: send a CSV whose first line is the header")
    file.seek(0)


def read_csv(file: BinaryIO, limit: int) -> pd.DataFrame:
    check_csv_bytes(file, limit)
    try:
        # One row past the cap is enough to know it is over: a huge file is not parsed whole to be refused.
        frame = pd.read_csv(file, dtype=object, keep_default_na=False, na_values=[""], encoding="utf-8",
                            nrows=MAX_BATCH_ROWS + 1)
    except pd.errors.EmptyDataError as exc:
        raise Unprocessable("the CSV has no header: its first line must name the columns") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise Unprocessable(f"the file is not a readable UTF-8 CSV: {exc}") from exc
    if len(frame) > MAX_BATCH_ROWS:
        raise PayloadTooLarge(f"the CSV has more than {MAX_BATCH_ROWS:,} rows, the most one upload takes; "
                              "split it or use `conveyor load`, which sends it in batches")
    if frame.empty:
        raise Unprocessable("the CSV has a header but no rows")
    return frame.astype(object).where(frame.notna(), None)


@router.post("/{name}/{split}/csv", response_model=InsertResult)
async def upload_csv(
    file: Annotated[UploadFile, File(description=f"UTF-8 CSV with a header row, at most {MAX_BATCH_ROWS:,} rows "
                                                 "and MAX_UPLOAD_MB")],
    schema: SchemaDep, split: SplitDep, db: DbDep, catalog: CatalogDep, settings: SettingsDep,
) -> InsertResult:
    def load() -> InsertResult:
        frame = read_csv(file.file, settings.max_upload_bytes)
        return write_rows(db, catalog, schema, split, frame, source="the CSV's header")

    return await run_in_threadpool(load)


CSV_PAGE = {"description": "The rows as CSV with a header (`format=csv`).",
            "content": {"text/csv": {"schema": {"type": "string"}}}}


@router.get("/{name}/{split}/rows", response_model=RowsPage, responses={200: CSV_PAGE})
def read_rows(
    schema: SchemaDep, split: SplitDep, db: DbDep, settings: SettingsDep,
    start: Annotated[PgDatetime | None, Query(description="rows at or after this time")] = None,
    end: Annotated[PgDatetime | None, Query(description="rows before this time")] = None,
    last: Annotated[int | None, Query(ge=1, le=MAX_WINDOW_ROWS, description="the last N rows by time")] = None,
    labeled: bool | None = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
    sample: Annotated[int | None, Query(ge=1, le=MAX_WINDOW_ROWS,
                                        description="a reproducible sample of N rows")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_WINDOW_ROWS,
                                description="rows per page, at most MAX_PAGE_ROWS (100 times that for CSV)")] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_WINDOW_ROWS)] = 0,
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
