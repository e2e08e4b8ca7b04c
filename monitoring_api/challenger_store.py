"""The scheduled champion-against-challenger comparisons as a time series in PostgreSQL.

Each point keeps the whole comparison (JSON, read back as `ChallengerPoint`) beside the columns a
dashboard or an SQL query selects on: the service, the time, both models, the verdict, the difference
and its interval, and whether the point promoted the challenger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg2.extras import Json

from conveyor.pg import Database, filters
from conveyor.schemas.challenger import ChallengerComparison, ChallengerPoint

CHALLENGER_DDL = """
CREATE TABLE IF NOT EXISTS monitoring_challenger_checks (
    id bigserial PRIMARY KEY,
    service text NOT NULL,
    dataset text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    mode text NOT NULL,
    champion_name text NOT NULL,
    champion_version int NOT NULL,
    challenger_name text NOT NULL,
    challenger_version int NOT NULL,
    verdict text NOT NULL,
    metric text NOT NULL,
    value double precision,
    low double precision,
    high double precision,
    champion_labelled_rows int NOT NULL,
    challenger_labelled_rows int NOT NULL,
    rows_needed int,
    promoted boolean NOT NULL DEFAULT false,
    comparison jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS monitoring_challenger_checks_service_at ON monitoring_challenger_checks (service, at);
"""
FIELDS = ("service", "dataset", "at", "mode", "champion_name", "champion_version", "challenger_name",
          "challenger_version", "verdict", "metric", "value", "low", "high", "champion_labelled_rows",
          "challenger_labelled_rows", "rows_needed", "promoted", "comparison")


def _values(comparison: ChallengerComparison) -> list[Any]:
    c = comparison
    row = {"service": c.service, "dataset": c.dataset, "at": c.at, "mode": c.mode.value,
           "champion_name": c.champion.model.name, "champion_version": c.champion.model.version,
           "challenger_name": c.challenger.model.name, "challenger_version": c.challenger.model.version,
           "verdict": c.verdict.value, "metric": c.difference.metric, "value": c.difference.value,
           "low": c.difference.low, "high": c.difference.high,
           "champion_labelled_rows": c.champion.labelled_rows,
           "challenger_labelled_rows": c.challenger.labelled_rows, "rows_needed": c.rows_needed,
           "promoted": c.promoted, "comparison": Json(c.model_dump(mode="json"))}
    return [row[f] for f in FIELDS]


def _point(row: dict[str, Any]) -> ChallengerPoint:
    return ChallengerPoint(**{**row["comparison"], "promoted": row["promoted"], "id": row["id"]})


class ChallengerStore:
    """The points in `monitoring_challenger_checks` (created at start-up by `monitoring_api.main`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, comparison: ChallengerComparison) -> ChallengerPoint:
        placeholders = ", ".join(["%s"] * len(FIELDS))
        row = self.db.one(f"INSERT INTO monitoring_challenger_checks ({', '.join(FIELDS)}) VALUES ({placeholders}) "
                          "RETURNING id, promoted, comparison", _values(comparison))
        if row is None:  # INSERT ... RETURNING always answers the row it inserted
            raise RuntimeError("the comparison was not stored")
        return _point(row)

    def points(self, service: str, start: datetime | None = None, end: datetime | None = None,
               limit: int = 1000) -> list[ChallengerPoint]:
        """The latest `limit` points of `service` in [start, end), oldest first."""
        where, params = filters({"service": service}, at_least={"at": start}, below={"at": end})
        rows = self.db.all("SELECT * FROM (SELECT id, at, promoted, comparison FROM monitoring_challenger_checks "
                           f"WHERE {where} ORDER BY at DESC, id DESC LIMIT %s) AS t ORDER BY at, id",
                           [*params, limit])
        return [_point(r) for r in rows]
