"""Tables of a dataset, built from its schema.

With the `timescaledb` extension each table is a hypertable; without it, a table
partitioned by month on the timestamp (partitions made on demand, a DEFAULT partition as
a safety net) with a BRIN index. Production record_ids are unique through a small
non-partitioned table: a unique index on a partitioned table must include the time column.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor

from conveyor.pg import Database
from conveyor.schemas.datasets import DatasetSchema, FeatureType, Split

log = logging.getLogger(__name__)

PG_TYPES = {
    FeatureType.float: "double precision",
    FeatureType.int: "bigint",
    FeatureType.str: "text",
    FeatureType.bool: "boolean",
}


def table_name(dataset: str, split: Split | str) -> str:
    return f"{dataset}_{Split(split).value}"


def ids_table(dataset: str) -> str:
    return f"{dataset}_production_ids"


@dataclass(frozen=True)
class Column:
    name: str
    type: FeatureType


def data_columns(schema: DatasetSchema, split: Split) -> list[Column]:
    """The columns a client writes, in table order (timestamp first)."""
    cols = [Column(schema.timestamp_column, FeatureType.str)]  # parsed separately as a time
    cols += [Column(f.name, f.type) for f in schema.features]
    cols.append(Column(schema.target, schema.resolved_target_type))
    if split is Split.production:
        cols += [
            Column("record_id", FeatureType.str),
            Column("prediction", schema.resolved_target_type),
            Column("model_name", FeatureType.str),
            Column("model_version", FeatureType.int),
            Column("job_id", FeatureType.str),
            Column("service", FeatureType.str),
            *challenger_columns(schema),
        ]
    return cols


def challenger_columns(schema: DatasetSchema) -> list[Column]:
    """Which role served the row, and the challenger's prediction beside it in shadow mode (issue 13).

    All optional: NULL model_role on a row means champion (rows stored before the columns existed).
    """
    return [
        Column("model_role", FeatureType.str),
        Column("shadow_prediction", schema.resolved_target_type),
        Column("shadow_model_name", FeatureType.str),
        Column("shadow_model_version", FeatureType.int),
    ]


def _column_defs(schema: DatasetSchema, split: Split) -> sql.Composed:
    defs = [sql.SQL("row_id bigserial")]
    for i, col in enumerate(data_columns(schema, split)):
        pg_type = "timestamptz NOT NULL" if i == 0 else PG_TYPES[col.type]
        if col.name == "record_id":
            pg_type = "text NOT NULL"
        defs.append(sql.SQL("{} {}").format(sql.Identifier(col.name), sql.SQL(pg_type)))
    if split is Split.production:
        defs.append(sql.SQL("label {}").format(sql.SQL(PG_TYPES[schema.resolved_target_type])))
        defs.append(sql.SQL("label_at timestamptz"))
    defs.append(sql.SQL("inserted_at timestamptz NOT NULL DEFAULT clock_timestamp()"))
    return sql.SQL(", ").join(defs)


def has_timescale(cur: Cursor) -> bool:
    cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    if cur.fetchone() is None:
        return False
    cur.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    return True


def create_tables(cur: Cursor, schema: DatasetSchema, timescale: bool) -> None:
    ts = sql.Identifier(schema.timestamp_column)
    for split in Split:
        name = table_name(schema.name, split)
        table = sql.Identifier(name)
        if timescale:
            cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(table, _column_defs(schema, split)))
            cur.execute("SELECT create_hypertable(%s, %s, if_not_exists => TRUE)", (name, schema.timestamp_column))
        else:
            cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}) PARTITION BY RANGE ({})").format(
                table, _column_defs(schema, split), ts))
            cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} DEFAULT").format(
                sql.Identifier(f"{name}_default"), table))
            cur.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING brin ({})").format(
                sql.Identifier(f"{name}_ts_brin"), table, ts))
        if split is Split.production:
            cur.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (record_id)").format(
                sql.Identifier(f"{name}_record_id"), table))
            cur.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (service)").format(
                sql.Identifier(f"{name}_service"), table))
    cur.execute(sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (record_id text PRIMARY KEY, ts timestamptz NOT NULL)"
    ).format(sql.Identifier(ids_table(schema.name))))


# Datasets whose production table this process has seen with every column: checked once each.
_current: set[str] = set()
_current_lock = threading.Lock()


def add_missing_columns(cur: Cursor, schema: DatasetSchema) -> list[str]:
    """Add the production columns a table made by an older version lacks; answer their names.

    The catalog lookup is cheap; ALTER TABLE (an exclusive lock) runs only when something is
    missing, under an advisory lock so that concurrent processes do not queue up behind it.
    """
    name = table_name(schema.name, Split.production)
    cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
                "AND NOT attisdropped", (sql.Identifier(name).as_string(cur),))
    present = {row[0] for row in cur.fetchall()}
    if not present:  # no such table (yet): create_tables makes it whole
        return []
    missing = [c for c in challenger_columns(schema) if c.name not in present]
    if not missing:
        return []
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{name}:columns",))
    for col in missing:
        cur.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
            sql.Identifier(name), sql.Identifier(col.name), sql.SQL(PG_TYPES[col.type])))
    return [c.name for c in missing]


def ensure_current(db: Database, schema: DatasetSchema) -> None:
    """Migrate the dataset's production table on its first use by this process, not on every request."""
    if schema.name in _current:
        return
    with _current_lock:
        if schema.name in _current:
            return
        with db.connect() as conn, conn.cursor() as cur:
            added = add_missing_columns(cur, schema)
        if added:
            log.info("production table of %s gained column(s) %s", schema.name, added)
        _current.add(schema.name)


def forget_current(dataset: str) -> None:
    _current.discard(dataset)


def _all_tables(dataset: str) -> list[str]:
    return [*(table_name(dataset, s) for s in Split), ids_table(dataset)]


def any_exists(cur: Cursor, dataset: str) -> bool:
    cur.execute("SELECT count(*) FROM pg_class WHERE relname = ANY(%s) AND relkind IN ('r', 'p')",
                (_all_tables(dataset),))
    row = cur.fetchone()
    return bool(row and row[0])


def drop_tables(cur: Cursor, dataset: str) -> None:
    forget_current(dataset)
    for name in _all_tables(dataset):
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(moment: datetime) -> datetime:
    return moment.replace(year=moment.year + moment.month // 12, month=moment.month % 12 + 1)


def ensure_partitions(cur: Cursor, dataset: str, split: Split, months: set[datetime]) -> None:
    """Monthly partitions for the months about to be written (plain PostgreSQL only)."""
    name = table_name(dataset, split)
    # One writer at a time creates partitions of a table; others wait, then find them.
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))
    for month in sorted(months):
        cur.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM (%s) TO (%s)"
        ).format(sql.Identifier(f"{name}_p{month:%Y%m}"), sql.Identifier(name)),
            (month, next_month(month)))
