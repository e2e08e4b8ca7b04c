"""Checks, their alerts and alert episodes in PostgreSQL; one transaction records a check with all it changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2.extras import Json, RealDictCursor

from conveyor.pg import Database, filters
from conveyor.schemas.monitoring import Episode
from monitoring_api.episodes import Change, CheckRef, EpisodeStore, Outcome, advance

# ADD COLUMN IF NOT EXISTS: a database made by an older version gains the new columns at start-up.
DDL = """
CREATE TABLE IF NOT EXISTS monitoring_checks (
    id bigserial PRIMARY KEY,
    service text NOT NULL,
    dataset text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    rows_current int NOT NULL,
    rows_labeled int NOT NULL,
    drift_share double precision,
    dataset_drift boolean,
    drift jsonb,
    target_drift jsonb,
    prediction_drift jsonb,
    mae double precision,
    rmse double precision,
    r2 double precision
);
ALTER TABLE monitoring_checks
    ADD COLUMN IF NOT EXISTS drift_decision jsonb,
    ADD COLUMN IF NOT EXISTS model text,
    ADD COLUMN IF NOT EXISTS model_version int,
    ADD COLUMN IF NOT EXISTS realized jsonb,
    ADD COLUMN IF NOT EXISTS estimated jsonb,
    ADD COLUMN IF NOT EXISTS reference_error jsonb,
    ADD COLUMN IF NOT EXISTS performance jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN IF NOT EXISTS rows_other_models int NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS monitoring_checks_service_at ON monitoring_checks (service, at);
CREATE TABLE IF NOT EXISTS monitoring_episodes (
    id bigserial PRIMARY KEY,
    service text NOT NULL,
    dataset text NOT NULL,
    kind text NOT NULL,
    status text NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz,
    first_check_id bigint REFERENCES monitoring_checks (id) ON DELETE SET NULL,
    last_check_id bigint REFERENCES monitoring_checks (id) ON DELETE SET NULL,
    checks int NOT NULL,
    quiet_checks int NOT NULL DEFAULT 0,
    features jsonb NOT NULL DEFAULT '[]',
    worst jsonb NOT NULL DEFAULT '{}',
    estimated boolean NOT NULL DEFAULT false,
    message text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- At most one open episode per service and kind, whoever runs the checks (the schedule, a request).
CREATE UNIQUE INDEX IF NOT EXISTS monitoring_episodes_one_open ON monitoring_episodes (service, kind)
    WHERE status = 'open';
CREATE INDEX IF NOT EXISTS monitoring_episodes_started ON monitoring_episodes (started_at);
CREATE TABLE IF NOT EXISTS monitoring_alerts (
    id bigserial PRIMARY KEY,
    service text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    kind text NOT NULL,
    value double precision,
    threshold double precision,
    message text NOT NULL,
    check_id bigint REFERENCES monitoring_checks (id) ON DELETE SET NULL
);
ALTER TABLE monitoring_alerts
    ADD COLUMN IF NOT EXISTS estimated boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS episode_id bigint REFERENCES monitoring_episodes (id) ON DELETE SET NULL;
CREATE INDEX IF NOT EXISTS monitoring_alerts_service_at ON monitoring_alerts (service, at);
"""
CHECK_FIELDS = ("service", "dataset", "rows_current", "rows_labeled", "drift_share", "dataset_drift", "drift",
                "drift_decision", "target_drift", "prediction_drift", "mae", "rmse", "r2", "model", "model_version",
                "realized", "estimated", "reference_error", "performance", "rows_other_models")
ALERT_FIELDS = ("service", "at", "kind", "value", "threshold", "message", "check_id", "estimated", "episode_id")


@dataclass(frozen=True)
class EpisodeChange:
    change: Change  # opened or resolved: what is announced
    episode: Episode
    outcome: Outcome


@dataclass(frozen=True)
class Recorded:
    check: dict[str, Any]
    alerts: list[dict[str, Any]]
    announcements: list[EpisodeChange]  # episodes opened or resolved by this check


def older_drift(row: dict[str, Any]) -> dict[str, Any]:
    """A check stored before calibration ({feature: {detected, score}}) read in today's shape."""
    drift = row.get("drift")
    if drift and any("statistic" not in column for column in drift.values()):
        row["drift"] = {name: {"statistic": column.get("stattest") or "evidently default",
                               "value": column.get("score"), "threshold": column.get("threshold"),
                               "exceeded": bool(column.get("detected"))} for name, column in drift.items()}
    return row


class CheckStore:
    """Checks, alerts and episodes in the tables of `DDL` (created at start-up by `monitoring_api.main`)."""

    def __init__(self, db: Database, episodes: EpisodeStore) -> None:
        self.db = db
        self.episodes = episodes

    def record(self, summary: dict[str, Any], alerts: list[dict[str, Any]], outcomes: list[Outcome],
               clear_checks: int) -> Recorded:
        """The check, its alerts and the episodes it moves, in one transaction under the service's lock."""
        values = [Json(summary[f]) if isinstance(summary[f], dict | list) else summary[f] for f in CHECK_FIELDS]
        with self.db.connect() as conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
            self.episodes.lock_service(cur, summary["service"])
            cur.execute(f"INSERT INTO monitoring_checks ({', '.join(CHECK_FIELDS)}) "
                        f"VALUES ({', '.join(['%s'] * len(CHECK_FIELDS))}) RETURNING *", values)
            check = dict(cur.fetchone())
            ref = CheckRef(check["id"], check["at"], check["service"], check["dataset"])
            episode_ids: dict[str, int] = {}
            announcements = []
            for outcome in outcomes:
                step = advance(self.episodes.open_episode(cur, ref.service, outcome.kind), outcome, ref, clear_checks)
                if step.episode is None or step.change is Change.none:
                    continue
                episode = self.episodes.save(cur, step.episode)
                if outcome.alerting:
                    episode_ids[outcome.kind] = episode.id
                if step.change in (Change.opened, Change.resolved):
                    announcements.append(EpisodeChange(step.change, episode, outcome))
            stored = []
            for alert in alerts:
                row = {**alert, "service": ref.service, "at": ref.at, "check_id": ref.id,
                       "episode_id": episode_ids.get(alert["kind"])}
                cur.execute(f"INSERT INTO monitoring_alerts ({', '.join(ALERT_FIELDS)}) "
                            f"VALUES ({', '.join(['%s'] * len(ALERT_FIELDS))}) RETURNING *",
                            [row.get(f, False if f == "estimated" else None) for f in ALERT_FIELDS])
                stored.append(dict(cur.fetchone()))
        return Recorded(check, stored, announcements)

    def _list(self, table: str, service: str | None, start: datetime | None, end: datetime | None,
              limit: int, extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        where, params = filters({"service": service, **(extra or {})}, at_least={"at": start}, below={"at": end})
        return self.db.all(f"SELECT * FROM (SELECT * FROM {table} WHERE {where} ORDER BY at DESC, id DESC LIMIT %s) "
                           "AS t ORDER BY at, id", [*params, limit])

    def checks(self, service: str | None, start: datetime | None, end: datetime | None, limit: int) -> list[dict]:
        return [older_drift(row) for row in self._list("monitoring_checks", service, start, end, limit)]

    def alerts(self, service: str | None, kind: str | None, start: datetime | None, end: datetime | None,
               limit: int) -> list[dict]:
        return self._list("monitoring_alerts", service, start, end, limit, {"kind": kind})
