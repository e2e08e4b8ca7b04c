"""Scheduled checks: a drift and performance summary per service, kept as a time series.

A summary crossing a threshold becomes an alert: stored, logged, published as a
`drift_detected` or `performance_degraded` event, and sent to a webhook when one is set.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import datetime
from typing import Any

import httpx
import numpy as np
import pandas as pd
from psycopg2.extras import Json

from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.clients.peers import PeerClients
from conveyor.events import EventPublisher
from conveyor.lookups import dataset_schema
from conveyor.pg import Database, filters
from conveyor.schemas.datasets import Task
from conveyor.schemas.services import Service
from conveyor.windows import WindowSpec, fetch
from monitoring_api.reports import ReportKind, json_report
from monitoring_api.service import LABEL, PREDICTION, build_windows
from monitoring_api.settings import Settings

log = logging.getLogger(__name__)
REFERENCE_SAMPLE = 5000

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
CREATE INDEX IF NOT EXISTS monitoring_checks_service_at ON monitoring_checks (service, at);
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
CREATE INDEX IF NOT EXISTS monitoring_alerts_service_at ON monitoring_alerts (service, at);
"""
CHECK_FIELDS = ("service", "dataset", "rows_current", "rows_labeled", "drift_share", "dataset_drift", "drift",
                "target_drift", "prediction_drift", "mae", "rmse", "r2")


class CheckStore:
    """Checks and alerts in the tables of `DDL` (created at start-up by `monitoring_api.main`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save_check(self, summary: dict[str, Any]) -> dict[str, Any]:
        values = [Json(summary[f]) if isinstance(summary[f], dict) else summary[f] for f in CHECK_FIELDS]
        return self.db.returning(f"INSERT INTO monitoring_checks ({', '.join(CHECK_FIELDS)}) "
                           f"VALUES ({', '.join(['%s'] * len(CHECK_FIELDS))}) RETURNING *", values)

    def save_alert(self, alert: dict[str, Any]) -> dict[str, Any]:
        return self.db.returning(
            "INSERT INTO monitoring_alerts (service, kind, value, threshold, message, check_id) "
            "VALUES (%(service)s, %(kind)s, %(value)s, %(threshold)s, %(message)s, %(check_id)s) RETURNING *", alert)

    def _list(self, table: str, service: str | None, start: datetime | None, end: datetime | None,
              limit: int, extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        where, params = filters({"service": service, **(extra or {})}, at_least={"at": start}, below={"at": end})
        return self.db.all(f"SELECT * FROM (SELECT * FROM {table} WHERE {where} ORDER BY at DESC LIMIT %s) AS t "
                           "ORDER BY at", [*params, limit])

    def checks(self, service: str | None, start: datetime | None, end: datetime | None, limit: int) -> list[dict]:
        return self._list("monitoring_checks", service, start, end, limit)

    def alerts(self, service: str | None, kind: str | None, start: datetime | None, end: datetime | None,
               limit: int) -> list[dict]:
        return self._list("monitoring_alerts", service, start, end, limit, {"kind": kind})


def _metrics(frame: pd.DataFrame) -> dict[str, float | None]:
    if frame.empty:
        return {"mae": None, "rmse": None, "r2": None}
    truth = frame[LABEL].to_numpy(dtype=float)
    error = frame[PREDICTION].to_numpy(dtype=float) - truth
    spread = ((truth - truth.mean()) ** 2).sum()
    return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error**2).mean())),
            "r2": float(1 - (error**2).sum() / spread) if spread > 0 else None}


async def summarize(service: Service, qm: QueueManagerClient, ml: MLDataClient, settings: Settings) -> dict[str, Any]:
    schema = await dataset_schema(qm, service.dataset)
    current = await fetch(ml, schema, WindowSpec("production", last=settings.check_window_rows,
                                                 service=service.name), settings.sample_cap)
    summary: dict[str, Any] = {f: None for f in CHECK_FIELDS} | {
        "service": service.name, "dataset": schema.name, "rows_current": current.total, "rows_labeled": 0}
    if current.total == 0:
        return summary
    reference = await fetch(ml, schema, WindowSpec("training"), REFERENCE_SAMPLE)
    if reference.total == 0:
        return summary
    drift_windows = build_windows(ReportKind.data_drift, schema, reference, current, None)
    drift = await asyncio.to_thread(json_report, ReportKind.data_drift, drift_windows)
    target_windows = build_windows(ReportKind.target_drift, schema, reference, current, None)
    target = (await asyncio.to_thread(json_report, ReportKind.target_drift, target_windows))["columns"]
    labeled = current.rows[current.rows[LABEL].notna()]
    summary.update(
        rows_labeled=len(labeled), drift_share=drift["share_of_drifted_columns"],
        dataset_drift=drift["dataset_drift"],
        drift={name: {"detected": c["detected"], "score": c["score"]} for name, c in drift["columns"].items()},
        target_drift=target.get(schema.target), prediction_drift=target.get(PREDICTION),
    )
    if schema.task is Task.regression:
        summary.update(_metrics(labeled))
    return summary


def alerts_for(summary: dict[str, Any], settings: Settings) -> list[dict[str, Any]]:
    found = []
    share = summary["drift_share"]
    if share is not None and share >= settings.drift_share_threshold:
        drifted = sorted(n for n, c in (summary["drift"] or {}).items() if c["detected"])
        found.append({"kind": "drift_detected", "value": share, "threshold": settings.drift_share_threshold,
                      "message": f"{share:.0%} of features drifted ({', '.join(drifted)}) on service "
                                 f"{summary['service']}"})
    if settings.mae_threshold is not None and summary["mae"] is not None and summary["mae"] > settings.mae_threshold:
        found.append({"kind": "performance_degraded", "value": summary["mae"], "threshold": settings.mae_threshold,
                      "message": f"MAE {summary['mae']:.4g} above {settings.mae_threshold:g} on {summary['service']}"})
    if settings.r2_threshold is not None and summary["r2"] is not None and summary["r2"] < settings.r2_threshold:
        found.append({"kind": "performance_degraded", "value": summary["r2"], "threshold": settings.r2_threshold,
                      "message": f"R2 {summary['r2']:.4g} below {settings.r2_threshold:g} on {summary['service']}"})
    return found


class Monitor:
    """Runs checks on demand and on a schedule; one per monitoring_api process, with the process's clients."""

    def __init__(self, settings: Settings, store: CheckStore, events: EventPublisher, peers: PeerClients,
                 webhook: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.store = store
        self.events = events
        self.peers = peers
        self.webhook = webhook  # set when settings.webhook_url is
        self._task: asyncio.Task[None] | None = None

    async def check(self, service: Service) -> dict[str, Any]:
        summary = await summarize(service, self.peers.queue_manager, self.peers.ml_data, self.settings)
        stored = await asyncio.to_thread(self.store.save_check, summary)
        stored["alerts"] = []
        for alert in alerts_for(summary, self.settings):
            alert = await asyncio.to_thread(self.store.save_alert, {**alert, "service": service.name,
                                                                    "check_id": stored["id"]})
            log.warning("alert %s: %s", alert["kind"], alert["message"])
            body = {"event": alert["kind"], **{k: v for k, v in alert.items() if k != "id"},
                    "at": alert["at"].isoformat(), "dataset": summary["dataset"]}
            await self.events.publish(f"service.{service.name}.{alert['kind']}", body)
            await self._post_webhook(body)
            stored["alerts"].append(alert)
        return stored

    async def _post_webhook(self, body: dict[str, Any]) -> None:
        if self.webhook is None:
            return
        url = self.settings.webhook_url
        try:
            answer = await self.webhook.post(url, json=body)
            if answer.is_error:
                log.warning("webhook %s answered %s", url, answer.status_code)
        except httpx.HTTPError as exc:
            log.warning("webhook %s failed: %s", url, exc)

    async def check_all(self) -> int:
        services = [s for s in await self.peers.queue_manager.list_services() if s.enabled]
        for service in services:
            try:
                await self.check(service)
            except Exception as exc:  # one service's trouble must not stop the others' checks
                log.warning("check of %s failed: %s", service.name, exc)
        return len(services)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.check_interval_seconds)
            try:
                await self.check_all()
            except Exception as exc:
                log.warning("scheduled checks failed: %s", exc)

    def start(self) -> None:
        if self.settings.check_interval_seconds > 0:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
