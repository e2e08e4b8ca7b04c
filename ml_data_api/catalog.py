"""Datasets known to ml_data_api; an unknown one is looked up in queue_manager once.

queue_manager owns the schemas: this catalog (a table, and a cache of it in memory) keeps
the schema each dataset's tables were built from. A dataset deleted in queue_manager is
forgotten here on its `dataset.<name>.deleted` event (`ml_data_api.dataset_events`).
"""

from __future__ import annotations

import json
import logging
import threading

from fastapi.concurrency import run_in_threadpool
from psycopg2.extras import Json
from pydantic import TypeAdapter, ValidationError

from conveyor.api.errors import Conflict, NotFound, Unprocessable
from conveyor.clients import QueueManagerClient
from conveyor.lookups import dataset_schema
from conveyor.pg import Database
from conveyor.schemas.datasets import DatasetSchema
from conveyor.schemas.names import DatasetName
from ml_data_api import tables

log = logging.getLogger(__name__)

# Created once at start-up (ml_data_api.main); the readiness probe runs no DDL.
CATALOG_DDL = """
CREATE TABLE IF NOT EXISTS conveyor_datasets (
    name text PRIMARY KEY,
    schema jsonb NOT NULL,
    timescale boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
_DATASET_NAME: TypeAdapter[str] = TypeAdapter(DatasetName)
# Fields that shape the tables: a schema differing in these is a different dataset.
SHAPE_FIELDS = ("task", "features", "target", "target_type", "timestamp_column")


def _shape(schema: DatasetSchema) -> dict:
    return {k: v for k, v in schema.model_dump(mode="json").items() if k in SHAPE_FIELDS}


def same_shape(a: DatasetSchema, b: DatasetSchema) -> bool:
    return _shape(a) == _shape(b)


def describe_difference(old: DatasetSchema, new: DatasetSchema) -> str:
    a, b = _shape(old), _shape(new)
    return "; ".join(f"{k}: registered {a[k]!r}, sent {b[k]!r}" for k in SHAPE_FIELDS if a[k] != b[k])


def check_name(name: str) -> None:
    """A 422 for a name no dataset can have, before it reaches a table or a URL (routes check it as a path
    parameter already; the reference insert URL derives it from `table_name`)."""
    try:
        _DATASET_NAME.validate_python(name)
    except ValidationError as exc:
        raise Unprocessable(f"dataset name {name!r}: {exc.errors()[0]['msg']}") from exc


class Catalog:
    def __init__(self, db: Database, queue_manager: QueueManagerClient | None) -> None:
        """`queue_manager` None: a standalone ml_data_api, whose datasets are registered with PUT."""
        self.db = db
        self.queue_manager = queue_manager
        self._cache: dict[str, DatasetSchema] = {}
        self._lock = threading.Lock()

    def list(self) -> list[DatasetSchema]:
        with self.db.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT schema FROM conveyor_datasets ORDER BY name")
            return [DatasetSchema(**row[0]) for row in cur.fetchall()]

    def stored(self, name: str) -> DatasetSchema | None:
        with self.db.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT schema FROM conveyor_datasets WHERE name = %s", (name,))
            row = cur.fetchone()
        return DatasetSchema(**row[0]) if row else None

    def register(self, schema: DatasetSchema) -> tuple[DatasetSchema, bool]:
        """Create the tables of a dataset; answer (schema, created)."""
        with self._lock:
            existing = self.stored(schema.name)
            if existing is not None:
                if not same_shape(existing, schema):
                    raise Conflict(
                        f"dataset {schema.name!r} is registered with a different schema "
                        f"({describe_difference(existing, schema)}); delete it first to change it"
                    )
                self._cache[schema.name] = existing
                return existing, False
            with self.db.connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext('conveyor_datasets'))")
                timescale = tables.has_timescale(cur)
                tables.create_tables(cur, schema, timescale)
                cur.execute(
                    "INSERT INTO conveyor_datasets (name, schema, timescale) VALUES (%s, %s, %s) "
                    "ON CONFLICT (name) DO NOTHING",
                    (schema.name, Json(json.loads(schema.model_dump_json())), timescale),
                )
            self._cache[schema.name] = schema
            log.info("dataset %s registered (timescale=%s)", schema.name, timescale)
            return schema, True

    def timescale(self, name: str) -> bool:
        with self.db.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT timescale FROM conveyor_datasets WHERE name = %s", (name,))
            row = cur.fetchone()
        return bool(row and row[0])

    async def get(self, name: str) -> DatasetSchema:
        """The dataset's schema; its tables are made on first use of a dataset queue_manager knows."""
        check_name(name)
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        stored = await run_in_threadpool(self.stored, name)
        if stored is not None:
            self._cache[name] = stored
            return stored
        if self.queue_manager is None:
            raise NotFound(
                f"dataset {name!r} is not registered: create it with POST /queue_manager/datasets "
                f"(or PUT /ml_data_api/datasets/{name})"
            )
        schema = await dataset_schema(self.queue_manager, name)
        return (await run_in_threadpool(self.register, schema))[0]

    def lost_tables(self, name: str) -> None:
        """The dataset's tables were dropped under a request (a deletion ran at the same time, here or in another
        replica): its next use looks it up again, and makes the tables again if queue_manager still has it."""
        self._cache.pop(name, None)

    def forget(self, name: str) -> bool:
        """Drop the dataset's tables and entry; answer whether there was anything to drop."""
        with self._lock:
            self._cache.pop(name, None)
            with self.db.connect() as conn, conn.cursor() as cur:
                existed = tables.any_exists(cur, name)
                tables.drop_tables(cur, name)
                cur.execute("DELETE FROM conveyor_datasets WHERE name = %s", (name,))
                return existed or cur.rowcount > 0

