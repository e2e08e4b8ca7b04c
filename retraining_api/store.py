"""Retraining runs and explainer builds, kept in PostgreSQL: the queue the executors claim from.

Claims use `FOR UPDATE SKIP LOCKED` under one advisory lock, so several executors can
run side by side while a dataset still has at most one run in progress. A run or build
whose executor stopped sending heartbeats is failed with a message, never left running.
A run waiting for labels is neither claimed nor swept: it only moves to queued (enough
labels) or cancelled. An alert episode starts at most one run: a unique index says so,
whichever listener or redelivery comes second.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg2.extras import Json, RealDictCursor

from conveyor.jsonsafe import json_safe
from conveyor.pg import Database, filters

DDL = """
CREATE TABLE IF NOT EXISTS retraining_runs (
    id bigserial PRIMARY KEY,
    dataset text NOT NULL,
    algorithm text NOT NULL,
    status text NOT NULL DEFAULT 'queued',
    stage text NOT NULL DEFAULT 'queued',
    percent double precision NOT NULL DEFAULT 0,
    request jsonb NOT NULL,
    trigger jsonb,
    previous_version int,
    new_version int,
    comparison jsonb,
    holdout_rows int,
    training_rows int,
    decision jsonb,
    promoted boolean NOT NULL DEFAULT false,
    error text,
    log_tail text[] NOT NULL DEFAULT '{}',
    executor text,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    heartbeat_at timestamptz
);
ALTER TABLE retraining_runs ADD COLUMN IF NOT EXISTS waiting jsonb;
CREATE INDEX IF NOT EXISTS retraining_runs_status ON retraining_runs (status, id);
CREATE UNIQUE INDEX IF NOT EXISTS retraining_runs_episode ON retraining_runs ((trigger->>'episode_id'))
    WHERE trigger->>'episode_id' IS NOT NULL;
CREATE INDEX IF NOT EXISTS retraining_runs_dataset ON retraining_runs (dataset, created_at);
CREATE TABLE IF NOT EXISTS retraining_explainers (
    key text PRIMARY KEY,
    model_name text NOT NULL,
    version int NOT NULL,
    evaluate_on text NOT NULL,
    rows int NOT NULL,
    status text NOT NULL DEFAULT 'queued',
    html text,
    error text,
    executor text,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    heartbeat_at timestamptz
);
"""
ACTIVE = ("queued", "running", "waiting_for_labels")
CANCELLABLE = ("queued", "waiting_for_labels")
RUN_COLUMNS = ("id", "dataset", "algorithm", "status", "stage", "percent", "request", "trigger", "previous_version",
               "new_version", "comparison", "holdout_rows", "training_rows", "decision", "promoted", "error",
               "log_tail", "waiting", "created_at", "started_at", "finished_at")


# The reference system's order of the scores (jsonb keeps keys sorted its own way).
SCORE_ORDER = ("Model", "MAE", "MSE", "RMSE", "R2", "RMSLE", "MAPE", "Accuracy", "AUC", "Recall", "Prec.", "F1",
               "Kappa", "MCC")


def _ordered(scores: dict[str, Any] | None) -> dict[str, Any] | None:
    if scores is None:
        return None
    rank = {k: i for i, k in enumerate(SCORE_ORDER)}
    return dict(sorted(scores.items(), key=lambda kv: rank.get(kv[0], len(rank))))


def to_api(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in RUN_COLUMNS if k in row}
    out["progress"] = {"stage": row["stage"], "percent": row["percent"]}
    if out.get("comparison"):
        out["comparison"] = {k: _ordered(v) for k, v in out["comparison"].items()}
    return out


class RunStore:
    """Runs and explainer builds in the tables of `DDL` (created at start-up, `conveyor.tables.StartupTables`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- runs
    def create_run(self, dataset: str, algorithm: str, request: dict[str, Any],
                   trigger: dict[str, Any] | None = None, waiting: dict[str, Any] | None = None) -> dict[str, Any]:
        """A new run: queued, or waiting_for_labels when `waiting` ({have, need, since}) is given."""
        status = "waiting_for_labels" if waiting else "queued"
        return self.db.returning(
            "INSERT INTO retraining_runs (dataset, algorithm, request, trigger, status, stage, waiting) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
            (dataset, algorithm, Json(json_safe(request)), Json(json_safe(trigger)) if trigger else None,
             status, status, Json(json_safe(waiting)) if waiting else None))

    def create_triggered(self, dataset: str, algorithm: str, request: dict[str, Any], trigger: dict[str, Any],
                         waiting: dict[str, Any], cooldown_seconds: float) -> tuple[dict[str, Any] | None, str]:
        """The run an alert starts, or (None, why not): the episode has a run, the model has an active one,
        or its last triggered run ended within the cooldown. Checked and inserted under one lock per model,
        so two listeners never both pass; the episode's unique index holds across everything else."""
        with self.db.connect() as conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('retraining_trigger:' || %s || '/' || %s))",
                        (dataset, algorithm))
            episode_id = trigger.get("episode_id")
            if episode_id is not None:
                cur.execute("SELECT id FROM retraining_runs WHERE trigger->>'episode_id' = %s", (str(episode_id),))
                found = cur.fetchone()
                if found:
                    return None, f"episode {episode_id} already started run {found['id']}"
            cur.execute("SELECT id, status FROM retraining_runs WHERE dataset = %s AND algorithm = %s "
                        "AND status IN %s ORDER BY id LIMIT 1", (dataset, algorithm, ACTIVE))
            active = cur.fetchone()
            if active:
                return None, f"run {active['id']} ({active['status']}) already retrains {algorithm}"
            cur.execute("SELECT id, finished_at FROM retraining_runs WHERE dataset = %s AND algorithm = %s "
                        "AND trigger IS NOT NULL AND finished_at > now() - make_interval(secs => %s) "
                        "ORDER BY finished_at DESC LIMIT 1", (dataset, algorithm, cooldown_seconds))
            recent = cur.fetchone()
            if recent:
                return None, (f"triggered run {recent['id']} ended at {recent['finished_at'].isoformat()}, "
                              f"within the cooldown of {cooldown_seconds:g} s")
            cur.execute(
                "INSERT INTO retraining_runs (dataset, algorithm, request, trigger, status, stage, waiting) "
                "VALUES (%s, %s, %s, %s, 'waiting_for_labels', 'waiting_for_labels', %s) "
                "ON CONFLICT ((trigger->>'episode_id')) WHERE trigger->>'episode_id' IS NOT NULL DO NOTHING "
                "RETURNING *",
                (dataset, algorithm, Json(json_safe(request)), Json(json_safe(trigger)), Json(json_safe(waiting))))
            row = cur.fetchone()
            if row is None:
                return None, f"episode {episode_id} already started a run"
            return dict(row), "created"

    def get_run(self, run_id: int) -> dict[str, Any] | None:
        return self.db.one("SELECT * FROM retraining_runs WHERE id = %s", (run_id,))

    def list_runs(self, dataset: str | None = None, algorithm: str | None = None, status: str | None = None,
                  since: datetime | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        where, params = filters({"dataset": dataset, "algorithm": algorithm, "status": status},
                                at_least={"created_at": since})
        return self.db.all(f"SELECT * FROM retraining_runs WHERE {where} ORDER BY id DESC LIMIT %s OFFSET %s",
                           [*params, limit, offset])

    def active_run(self, dataset: str, algorithm: str) -> dict[str, Any] | None:
        return self.db.one("SELECT * FROM retraining_runs WHERE dataset = %s AND algorithm = %s AND status IN %s "
                           "ORDER BY id LIMIT 1", (dataset, algorithm, ACTIVE))

    def waiting_runs(self) -> list[dict[str, Any]]:
        return self.db.all("SELECT * FROM retraining_runs WHERE status = 'waiting_for_labels' ORDER BY id")

    def count_labels(self, run_id: int, have: int, queue: bool) -> bool:
        """The new count of a waiting run, queued as well when `queue`; False when it no longer waits."""
        status = "queued" if queue else "waiting_for_labels"
        return self.db.one(
            "UPDATE retraining_runs SET waiting = jsonb_set(waiting, '{have}', to_jsonb(%s::int)), status = %s, "
            "stage = %s WHERE id = %s AND status = 'waiting_for_labels' RETURNING id",
            (have, status, status, run_id)) is not None

    def cancel_run(self, run_id: int) -> dict[str, Any] | None:
        """The run, now cancelled, if it was queued or waiting (never started): else None."""
        return self.db.one(
            "UPDATE retraining_runs SET status = 'cancelled', stage = 'cancelled', finished_at = now() "
            "WHERE id = %s AND status IN %s RETURNING *", (run_id, CANCELLABLE))

    def claim_run(self, executor: str) -> dict[str, Any] | None:
        """The oldest queued run whose dataset has no run in progress, now running for `executor`."""
        with self.db.connect() as conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('retraining_claim'))")
            cur.execute(
                "SELECT id FROM retraining_runs q WHERE status = 'queued' AND NOT EXISTS ("
                " SELECT 1 FROM retraining_runs r WHERE r.dataset = q.dataset AND r.status = 'running') "
                "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED")
            found = cur.fetchone()
            if not found:
                return None
            cur.execute(
                "UPDATE retraining_runs SET status = 'running', stage = 'starting', percent = 1, executor = %s, "
                "started_at = now(), heartbeat_at = now() WHERE id = %s RETURNING *", (executor, found["id"]))
            return dict(cur.fetchone())

    def update_run(self, run_id: int, **fields: Any) -> None:
        self._update_run(run_id, fields, "")

    def report_progress(self, run_id: int, **fields: Any) -> None:
        """Progress from the run's own thread: written only while the run is running, so a write still in
        flight when an executor requeues the run (stopping) cannot overwrite the requeue."""
        self._update_run(run_id, fields, " AND status = 'running'")

    def _update_run(self, run_id: int, fields: dict[str, Any], condition: str) -> None:
        if not fields:
            return
        values = [Json(json_safe(v)) if isinstance(v, dict) else v for v in fields.values()]
        sets = ", ".join(f"{k} = %s" for k in fields)
        self.db.run(f"UPDATE retraining_runs SET {sets}, heartbeat_at = now() WHERE id = %s{condition}",
                    [*values, run_id])

    def finish_run(self, run_id: int, status: str, **fields: Any) -> None:
        self.update_run(run_id, status=status, finished_at=datetime.now().astimezone(), **fields)

    def mark_promoted(self, run_id: int) -> None:
        self.db.run("UPDATE retraining_runs SET promoted = true WHERE id = %s", (run_id,))

    def fail_stale(self, stale_seconds: float, alive_executor: str) -> list[int]:
        """Runs and builds whose executor went silent: failed, with the reason, so nothing stays running.

        The sweeping executor's own work is never stale: it is alive, only busy (PyCaret holding the GIL on a
        loaded machine can delay a heartbeat past the limit)."""
        with self.db.connect() as conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE retraining_runs SET status = 'failed', finished_at = now(), error = 'the executor stopped "
                "(no heartbeat for ' || %s || ' s while ' || stage || '); start the run again' "
                "WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => %s) "
                "AND executor IS DISTINCT FROM %s RETURNING id",
                (int(stale_seconds), stale_seconds, alive_executor))
            failed = [r[0] for r in cur.fetchall()]
            cur.execute(
                "UPDATE retraining_explainers SET status = 'failed', finished_at = now(), "
                "error = 'the executor stopped while building; request it again with rebuild=true' "
                "WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => %s) "
                "AND executor IS DISTINCT FROM %s", (stale_seconds, alive_executor))
            return failed

    # -- explainer dashboards
    def request_explainer(self, key: str, model_name: str, version: int, evaluate_on: str, rows: int,
                          rebuild: bool) -> dict[str, Any]:
        """The build's state, with its HTML once finished; a build is queued when there is none yet."""
        with self.db.connect() as conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
            cur.execute(
                "INSERT INTO retraining_explainers (key, model_name, version, evaluate_on, rows) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
                (key, model_name, version, evaluate_on, rows))
            if rebuild:
                cur.execute("UPDATE retraining_explainers SET status = 'queued', html = NULL, error = NULL, "
                            "finished_at = NULL WHERE key = %s AND status IN ('finished', 'failed')", (key,))
            cur.execute("SELECT key, model_name, version, evaluate_on, rows, status, error, "
                        "CASE WHEN status = 'finished' THEN html END AS html "
                        "FROM retraining_explainers WHERE key = %s", (key,))
            return dict(cur.fetchone())

    def claim_explainer(self, executor: str) -> dict[str, Any] | None:
        return self.db.one(
            "UPDATE retraining_explainers SET status = 'running', executor = %s, heartbeat_at = now() "
            "WHERE key = (SELECT key FROM retraining_explainers WHERE status = 'queued' ORDER BY created_at "
            "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING key, model_name, version, evaluate_on, rows", (executor,))

    def finish_explainer(self, key: str, html: str | None, error: str | None) -> None:
        self.db.run("UPDATE retraining_explainers SET status = %s, html = %s, error = %s, finished_at = now() "
                    "WHERE key = %s", ("finished" if html is not None else "failed", html, error, key))

    def heartbeat_explainer(self, key: str) -> None:
        self.db.run("UPDATE retraining_explainers SET heartbeat_at = now() WHERE key = %s", (key,))

    def requeue_explainer(self, key: str) -> None:
        self.db.run("UPDATE retraining_explainers SET status = 'queued', executor = NULL WHERE key = %s", (key,))
