"""Bulk writes with COPY; production rows are idempotent on record_id."""

from __future__ import annotations

import io

import pandas as pd
from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor

from conveyor.pg import Database
from conveyor.schemas.datasets import DatasetSchema, Split
from ml_data_api import tables

NULL = r"\N"


def to_copy_buffer(frame: pd.DataFrame) -> io.StringIO:
    buffer = io.StringIO()
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].dt.strftime("%Y-%m-%d %H:%M:%S.%f+00")
    out.to_csv(buffer, index=False, header=False, na_rep=NULL)
    buffer.seek(0)
    return buffer


def _copy(cur: Cursor, target: sql.Composable, frame: pd.DataFrame) -> None:
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, NULL {})").format(
        target, columns, sql.Literal(NULL))
    cur.copy_expert(statement.as_string(cur), to_copy_buffer(frame))


def months_of(series: pd.Series) -> set:
    return {tables.month_start(t.to_pydatetime()) for t in series.dt.floor("D").unique()}


def insert(db: Database, schema: DatasetSchema, split: Split, frame: pd.DataFrame, timescale: bool
           ) -> tuple[int, int, list[str]]:
    """Write typed rows; answer (inserted, duplicates, the record_ids of production rows that were stored already).

    A record_id repeated within the rows is stored once: its repeats count as duplicates, but the record is not
    one of those stored already (this call stored it).
    """
    if frame.empty:
        return 0, 0, []
    name = tables.table_name(schema.name, split)
    ts = schema.timestamp_column
    if split is Split.production:
        tables.ensure_current(db, schema)
    if not timescale:
        with db.connect() as conn, conn.cursor() as cur:
            tables.ensure_partitions(cur, schema.name, split, months_of(frame[ts]))
    with db.connect() as conn, conn.cursor() as cur:
        if split is not Split.production:
            _copy(cur, sql.Identifier(name), frame)
            return len(frame), 0, []
        cur.execute(sql.SQL(
            "CREATE TEMP TABLE ingest (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP"
        ).format(sql.Identifier(name)))
        _copy(cur, sql.Identifier("ingest"), frame)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
        picked = sql.SQL(", ").join(sql.SQL("i.{}").format(sql.Identifier(c)) for c in frame.columns)
        # Ids first: a record already stored (or stored by a concurrent writer) is skipped. The ids stored
        # now come back, so that the writer learns which of its records were there before (a redelivery).
        cur.execute(sql.SQL(
            "WITH new_ids AS ("
            "  INSERT INTO {ids} (record_id, ts)"
            "  SELECT DISTINCT ON (record_id) record_id, {ts} FROM ingest ORDER BY record_id"
            "  ON CONFLICT DO NOTHING RETURNING record_id)"
            " INSERT INTO {table} ({cols})"
            " SELECT DISTINCT ON (i.record_id) {picked} FROM ingest i JOIN new_ids USING (record_id)"
            " ORDER BY i.record_id RETURNING record_id"
        ).format(ids=sql.Identifier(tables.ids_table(schema.name)), ts=sql.Identifier(ts),
                 table=sql.Identifier(name), cols=cols, picked=picked))
        stored = {row[0] for row in cur.fetchall()}
        already = list(dict.fromkeys(str(r) for r in frame["record_id"] if str(r) not in stored))
        return len(stored), len(frame) - len(stored), already
