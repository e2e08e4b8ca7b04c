"""Rows of a split by time window or the last N, as JSON rows or CSV."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2 import sql
from psycopg2.extras import RealDictCursor

from conveyor.pg import Database
from conveyor.schemas.datasets import DatasetSchema, Split
from ml_data_api import tables

HIDDEN = {"row_id"}


@dataclass(frozen=True)
class Window:
    start: datetime | None = None
    end: datetime | None = None
    last: int | None = None
    labeled: bool | None = None
    service: str | None = None
    sample: int | None = None  # a random sample of this many rows of the window (seeded)


def _columns(schema: DatasetSchema, split: Split) -> list[str]:
    names = [c.name for c in tables.data_columns(schema, split)]
    if split is Split.production:
        names += ["label", "label_at"]
    return [*names, "inserted_at"]


def _window_query(schema: DatasetSchema, split: Split, window: Window) -> tuple[sql.Composed, list[Any]]:
    ts = sql.Identifier(schema.timestamp_column)
    where: list[sql.Composable] = [sql.SQL("TRUE")]
    params: list[Any] = []
    if window.start:
        where.append(sql.SQL("{} >= %s").format(ts))
        params.append(window.start)
    if window.end:
        where.append(sql.SQL("{} < %s").format(ts))
        params.append(window.end)
    if split is Split.production and window.labeled is not None:
        where.append(sql.SQL("label IS NOT NULL" if window.labeled else "label IS NULL"))
    if split is Split.production and window.service:
        where.append(sql.SQL("service = %s"))
        params.append(window.service)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in _columns(schema, split))
    query = sql.SQL("SELECT {cols}, row_id FROM {t} WHERE {where}").format(
        cols=cols, t=sql.Identifier(tables.table_name(schema.name, split)),
        where=sql.SQL(" AND ").join(where))
    if window.last:
        query = sql.SQL("SELECT * FROM ({q} ORDER BY {ts} DESC, row_id DESC LIMIT %s) AS w").format(q=query, ts=ts)
        params.append(window.last)
    if window.sample:
        # Hashing row_id with a fixed seed makes the same window give the same sample.
        query = sql.SQL("SELECT * FROM ({q}) AS s ORDER BY md5(row_id::text || 'conveyor') LIMIT %s").format(q=query)
        params.append(window.sample)
    return query, params


def page(
    db: Database, schema: DatasetSchema, split: Split, window: Window, limit: int, offset: int
) -> tuple[int, list[dict]]:
    if split is Split.production:
        tables.ensure_current(db, schema)
    base, params = _window_query(schema, split, window)
    ts = sql.Identifier(schema.timestamp_column)
    with db.connect() as conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(sql.SQL("SELECT count(*) AS n FROM ({}) AS c").format(base), params)
        total = cur.fetchone()["n"]
        cur.execute(sql.SQL("SELECT * FROM ({}) AS r ORDER BY {}, row_id LIMIT %s OFFSET %s").format(base, ts),
                    [*params, limit, offset])
        rows = [
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if k not in HIDDEN}
            for row in cur.fetchall()
        ]
    return total, rows


def csv(db: Database, schema: DatasetSchema, split: Split, window: Window, limit: int, offset: int) -> str:
    if split is Split.production:
        tables.ensure_current(db, schema)
    base, params = _window_query(schema, split, window)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in _columns(schema, split))
    ts = sql.Identifier(schema.timestamp_column)
    buffer = io.StringIO()
    with db.connect() as conn, conn.cursor() as cur:
        query = sql.SQL("SELECT {} FROM ({}) AS r ORDER BY {}, row_id LIMIT %s OFFSET %s").format(cols, base, ts)
        bound = cur.mogrify(query, [*params, limit, offset]).decode()
        cur.copy_expert(f"COPY ({bound}) TO STDOUT WITH (FORMAT csv, HEADER)", buffer)
    return buffer.getvalue()


def counts(db: Database, schema: DatasetSchema) -> dict[str, int]:
    result: dict[str, int] = {}
    with db.connect() as conn, conn.cursor() as cur:
        for split in Split:
            table = sql.Identifier(tables.table_name(schema.name, split))
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
            result[split.value] = cur.fetchone()[0]
        cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE label IS NOT NULL").format(
            sql.Identifier(tables.table_name(schema.name, Split.production))))
        result["labeled"] = cur.fetchone()[0]
    return result
