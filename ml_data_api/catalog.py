"""Datasets known to ml_data_api; an unknown one is looked up in queue_manager once."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

from psycopg2.extras import Json

from conveyor.api.errors import Conflict, NotFound, Unavailable
from conveyor.clients import APIError, APIUnavailable, QueueManagerClient
from conveyor.pg import Database
from conveyor.schemas.datasets import DatasetSchema
from ml_data_api import tables

log = logging.getLogger(__name__)

CATALOG_DDL = """
CREATE TABLE IF NOT EXISTS conveyor_datasets (
    name text PRIMARY KEY,
    schema jsonb NOT NULL,
    timescale boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
# Fields that shape the tables: a schema differing in these is a different dataset.
SHAPE_FIELDS = ("task", "features", "target", "target_type", "timestamp_column")


def _shape(schema: DatasetSchema) -> dict:
    return {k: v for k, v in schema.model_dump(mode="json").items() if k in SHAPE_FIELDS}


def describe_difference(old: DatasetSchema, new: DatasetSchema) -> str:
    a, b = _shape(old), _shape(new)
    return "; ".join(f"{k}: registered {a[k]!r}, sent {b[k]!r}" for k in SHAPE_FIELDS if a[k] != b[k])


class Catalog:
    def __init__(self, db: Database, queue_manager_url: str, api_token: str) -> None:
        self.db = db
        self.queue_manager_url = queue_manager_url
        self.api_token = api_token
        self._cache: dict[str, DatasetSchema] = {}
        self._lock = threading.Lock()

    def ensure_table(self) -> None:
        with self.db.connect() as conn, conn.cursor() as cur:
            cur.execute(CATALOG_DDL)

    def list(self) -> list[DatasetSchema]:
        with self.db.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT schema FROM conveyor_datasets ORDER BY name")
            return [DatasetSchema(**row[0]) for row in cur.fetchall()]

    def _stored(self, name: str) -> DatasetSchema | None:
        with self.db.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT schema FROM conveyor_datasets WHERE name = %s", (name,))
            row = cur.fetchone()
        return DatasetSchema(**row[0]) if row else None

    def register(self, schema: DatasetSchema) -> tuple[DatasetSchema, bool]:
        """Create the tables of a dataset; answer (schema, created)."""
        with self._lock:
            existing = self._stored(schema.name)
            if existing is not None:
                if _shape(existing) != _shape(schema):
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

    def get(self, name: str) -> DatasetSchema:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        stored = self._stored(name)
        if stored is not None:
            self._cache[name] = stored
            return stored
        return self.register(self._from_queue_manager(name))[0]

    def _from_queue_manager(self, name: str) -> DatasetSchema:
        hint = f"dataset {name!r} is not registered: create it with POST /queue_manager/datasets"
        if not self.queue_manager_url:
            raise NotFound(f"{hint} (or PUT /ml_data_api/datasets/{name})")

        async def fetch() -> DatasetSchema:
            async with QueueManagerClient(self.queue_manager_url, self.api_token, timeout=10) as qm:
                dataset = await qm.get_dataset(name)
                return DatasetSchema(**dataset.model_dump(include=set(DatasetSchema.model_fields)))

        try:
            # Routes run in worker threads without an event loop of their own.
            return asyncio.run(fetch())
        except APIError as exc:
            if exc.status_code == 404:
                raise NotFound(hint) from exc
            raise
        except APIUnavailable as exc:
            raise Unavailable(
                f"dataset {name!r} is unknown here and queue_manager ({self.queue_manager_url}) "
                f"is unreachable to look it up: {exc}"
            ) from exc

    def forget(self, name: str) -> None:
        with self._lock:
            self._cache.pop(name, None)
            with self.db.connect() as conn, conn.cursor() as cur:
                tables.drop_tables(cur, name)
                cur.execute("DELETE FROM conveyor_datasets WHERE name = %s", (name,))

