"""Alert episodes: consecutive alerting checks of one kind on one service make one alert to act on.

`advance` is the state machine, pure: an open episode (or none) and what one check says about
its kind give the episode after the check and what changed. An alerting check opens an episode
or extends the open one; `clear_checks` consecutive checks under the thresholds resolve it; a
check that could not decide (drift uncalibrated, no data, too few labelled rows and no estimate)
neither extends nor ends it. `EpisodeStore` keeps episodes in `monitoring_episodes` (tables in
`monitoring_api.check_store`), and the event bodies published when one opens or ends are built
here too, so that listeners and the webhook see one message per episode, not one per check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from psycopg2.extensions import cursor as Cursor
from psycopg2.extras import Json

from conveyor.pg import Database, filters
from conveyor.schemas.monitoring import Episode, EpisodeStatus

DRIFT = "drift_detected"
PERFORMANCE = "performance_degraded"
RESOLVED = "episode_resolved"
# Worst values are the highest seen, except for these, where lower is worse.
LOWER_IS_WORSE = frozenset({"accuracy", "f1", "r2"})


@dataclass(frozen=True)
class Outcome:
    """What one check says about one kind of alert on its service."""

    kind: str
    alerting: bool | None  # None: the check could not decide (uncalibrated, no data, too few rows)
    features: tuple[str, ...] = ()
    worst: dict[str, Any] = field(default_factory=dict)
    estimated: bool = False  # alerting on the performance estimate alone, no labelled verdict degraded
    # The alert that opens an episode describes it in the `opened` event.
    value: float | None = None
    threshold: float | None = None
    message: str = ""


@dataclass(frozen=True)
class CheckRef:
    id: int
    at: datetime
    service: str
    dataset: str


class Change(StrEnum):
    none = "none"  # no episode, no alert; or the check could not decide
    opened = "opened"
    extended = "extended"
    quiet = "quiet"  # under the thresholds, not yet for long enough to end the episode
    resolved = "resolved"


@dataclass(frozen=True)
class Step:
    episode: Episode | None  # after the check (id 0: opened, not stored yet)
    change: Change


def merge_worst(seen: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The worse of each value (nested dicts merged key by key)."""
    merged = dict(seen)
    for key, value in new.items():
        old = merged.get(key)
        if isinstance(value, dict):
            merged[key] = merge_worst(old if isinstance(old, dict) else {}, value)
        elif isinstance(value, int | float) and isinstance(old, int | float):
            merged[key] = min(old, value) if key in LOWER_IS_WORSE else max(old, value)
        elif value is not None or key not in merged:
            merged[key] = value
    return merged


def advance(current: Episode | None, outcome: Outcome, check: CheckRef, clear_checks: int) -> Step:
    if current is None:
        if not outcome.alerting:
            return Step(None, Change.none)
        opened = Episode(
            id=0, service=check.service, dataset=check.dataset, kind=outcome.kind, status=EpisodeStatus.open,
            started_at=check.at, first_check_id=check.id, last_check_id=check.id, checks=1,
            features=sorted(outcome.features), worst=outcome.worst, estimated=outcome.estimated,
            message=outcome.message,
        )
        return Step(opened, Change.opened)
    if outcome.alerting is None:
        return Step(current, Change.none)
    if outcome.alerting:
        return Step(current.model_copy(update={
            "last_check_id": check.id, "checks": current.checks + 1, "quiet_checks": 0,
            "features": sorted({*current.features, *outcome.features}),
            "worst": merge_worst(current.worst, outcome.worst),
            # Estimated until a check's labelled metrics confirm it; then it stays confirmed.
            "estimated": current.estimated and outcome.estimated,
        }), Change.extended)
    quiet = current.quiet_checks + 1
    if quiet < clear_checks:
        return Step(current.model_copy(update={"quiet_checks": quiet}), Change.quiet)
    return Step(current.model_copy(update={"quiet_checks": quiet, "status": EpisodeStatus.resolved,
                                           "ended_at": check.at}), Change.resolved)


def opened_event(episode: Episode, outcome: Outcome) -> tuple[str, dict[str, Any]]:
    """Routing key and body of the event published once when an episode opens."""
    return f"service.{episode.service}.{episode.kind}", {
        "event": episode.kind, "service": episode.service, "dataset": episode.dataset,
        "at": episode.started_at.isoformat(), "value": outcome.value, "threshold": outcome.threshold,
        "message": outcome.message, "estimated": episode.estimated, "episode": episode.model_dump(mode="json"),
    }


def resolved_event(episode: Episode) -> tuple[str, dict[str, Any]]:
    """Routing key and body of the event published once when an episode ends."""
    at = episode.ended_at or episode.started_at
    return f"service.{episode.service}.{RESOLVED}", {
        "event": RESOLVED, "kind": episode.kind, "service": episode.service, "dataset": episode.dataset,
        "at": at.isoformat(), "episode": episode.model_dump(mode="json"),
    }


COLUMNS = ("service", "dataset", "kind", "status", "started_at", "ended_at", "first_check_id", "last_check_id",
           "checks", "quiet_checks", "features", "worst", "estimated", "message")


def _values(episode: Episode) -> list[Any]:
    row = episode.model_dump(include=set(COLUMNS))
    return [Json(row[c]) if c in ("features", "worst") else row[c] for c in COLUMNS]


class EpisodeStore:
    """Episodes in `monitoring_episodes`: at most one open per (service, kind), by a unique partial index."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def lock_service(cur: Cursor, service: str) -> None:
        """Until the transaction ends, no other check of `service` moves its episodes (on demand vs schedule)."""
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('monitoring_episodes'), hashtext(%s))", (service,))

    @staticmethod
    def open_episode(cur: Cursor, service: str, kind: str) -> Episode | None:
        cur.execute("SELECT * FROM monitoring_episodes WHERE service = %s AND kind = %s AND status = 'open' "
                    "FOR UPDATE", (service, kind))
        row = cur.fetchone()
        return Episode.model_validate(dict(row)) if row else None

    @staticmethod
    def save(cur: Cursor, episode: Episode) -> Episode:
        if episode.id == 0:
            cur.execute(f"INSERT INTO monitoring_episodes ({', '.join(COLUMNS)}) "
                        f"VALUES ({', '.join(['%s'] * len(COLUMNS))}) RETURNING *", _values(episode))
        else:
            assignments = ", ".join(f"{c} = %s" for c in COLUMNS)
            cur.execute(f"UPDATE monitoring_episodes SET {assignments}, updated_at = now() WHERE id = %s RETURNING *",
                        [*_values(episode), episode.id])
        return Episode.model_validate(dict(cur.fetchone()))

    def page(self, service: str | None, kind: str | None, status: EpisodeStatus | None, limit: int,
             offset: int) -> tuple[int, list[Episode]]:
        where, params = filters({"service": service, "kind": kind, "status": status and status.value})
        total = self.db.one(f"SELECT count(*) AS n FROM monitoring_episodes WHERE {where}", params)
        rows = self.db.all(f"SELECT * FROM monitoring_episodes WHERE {where} ORDER BY started_at DESC, id DESC "
                           "LIMIT %s OFFSET %s", [*params, limit, offset])
        return (total or {"n": 0})["n"], [Episode.model_validate(r) for r in rows]

    def get(self, episode_id: int) -> Episode | None:
        row = self.db.one("SELECT * FROM monitoring_episodes WHERE id = %s", (episode_id,))
        return Episode.model_validate(row) if row else None
