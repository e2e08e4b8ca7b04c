"""Late labels joined to production rows by record_id."""

from __future__ import annotations

import pandas as pd
from psycopg2 import sql

from conveyor.pg import Database
from conveyor.schemas.datasets import DatasetSchema, Split
from ml_data_api import tables
from ml_data_api.ingest import _copy, months_of
from ml_data_api.validation import coerce, texts


def apply(db: Database, schema: DatasetSchema, labels: list[dict], append: bool, timescale: bool) -> dict:
    # Objects, not inferred dtypes: pandas overflows on an integer beyond float64 before it can be refused.
    frame = pd.DataFrame(labels, columns=["record_id", "label"], dtype=object)
    frame["record_id"] = texts(frame["record_id"].astype(str), "record_id")
    frame["label"] = coerce(frame["label"], schema.resolved_target_type, "label")
    frame = frame.drop_duplicates("record_id", keep="last")
    production = sql.Identifier(tables.table_name(schema.name, Split.production))
    training = tables.table_name(schema.name, Split.training)
    ts = sql.Identifier(schema.timestamp_column)
    if append and not timescale:
        with db.connect() as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT ts FROM {} WHERE record_id = ANY(%s)").format(
                sql.Identifier(tables.ids_table(schema.name))), (list(frame["record_id"]),))
            moments = pd.Series(pd.to_datetime([r[0] for r in cur.fetchall()], utc=True))
            if len(moments):
                tables.ensure_partitions(cur, schema.name, Split.training, months_of(moments))
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL(
            "CREATE TEMP TABLE incoming (record_id text, label {}) ON COMMIT DROP"
        ).format(sql.SQL(tables.PG_TYPES[schema.resolved_target_type])))
        _copy(cur, sql.Identifier("incoming"), frame)
        cur.execute(sql.SQL(
            "UPDATE {p} AS p SET label = n.label, label_at = clock_timestamp()"
            " FROM incoming n WHERE p.record_id = n.record_id RETURNING p.record_id"
        ).format(p=production))
        found = {row[0] for row in cur.fetchall()}
        appended = 0
        if append and found:
            features = [sql.Identifier(f.name) for f in schema.features]
            cur.execute(sql.SQL(
                "INSERT INTO {t} ({ts}, {features}, {target})"
                " SELECT p.{ts}, {p_features}, p.label FROM {p} AS p JOIN incoming n USING (record_id)"
            ).format(
                t=sql.Identifier(training), ts=ts, features=sql.SQL(", ").join(features),
                target=sql.Identifier(schema.target), p=production,
                p_features=sql.SQL(", ").join(sql.SQL("p.{}").format(f) for f in features),
            ))
            appended = cur.rowcount
    unknown = [r for r in frame["record_id"] if r not in found]
    return {"updated": len(found), "unknown": unknown, "appended_to_training": appended}
