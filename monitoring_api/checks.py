"""Scheduled checks: drift decided against calibrated thresholds, performance against the model's own error.

A check of a service reads its latest `check_window_rows` production rows (the current window)
and the dataset's latest `reference_rows` training rows in time order (the reference, refetched
only when the training split changes). Drift: Evidently's statistic per feature against the
threshold calibrated on the reference at the window's size (`monitoring_api.calibration`, cached
per reference and size). Performance: the task's metrics on the window's labelled rows predicted
by the service's current model version, and their estimate over all its rows, each against the
version's reference error (`monitoring_api.model_reference`), beyond the window's sampling noise
(`monitoring_api.performance`). Every check is stored with its
per-check alerts; consecutive alerting checks form an episode (`monitoring_api.episodes`), and only
an episode opening or ending is published as an event and posted to the webhook.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import httpx
import pandas as pd

from conveyor.clients import MLDataClient
from conveyor.clients.peers import PeerClients
from conveyor.events import EventPublisher
from conveyor.lookups import registered_dataset
from conveyor.lru import LRU
from conveyor.schemas.datasets import DatasetSchema, FeatureType
from conveyor.schemas.monitoring import (
    CalibrationOut,
    DriftDecision,
    DriftStatus,
    FeatureDrift,
    PerformanceVerdict,
)
from conveyor.schemas.services import Service
from conveyor.windows import Frame, WindowSpec, count, fetch
from monitoring_api.calibration import Calibration, CalibrationCache, StatTests, window_calibration
from monitoring_api.challenger_monitor import ChallengerMonitor
from monitoring_api.check_store import CheckStore
from monitoring_api.drift import decide, feature_statistics
from monitoring_api.episodes import DRIFT, PERFORMANCE, Change, Outcome, opened_event, resolved_event
from monitoring_api.model_reference import ModelReferences
from monitoring_api.performance import Assessment, assess
from monitoring_api.reports import ReportKind, json_report
from monitoring_api.service import PREDICTION, build_windows
from monitoring_api.settings import Settings

log = logging.getLogger(__name__)
REFERENCES_KEPT = 8  # datasets whose reference rows stay in memory between checks


def feature_kinds(schema: DatasetSchema) -> tuple[list[str], list[str]]:
    numerical = [f.name for f in schema.features if f.type in (FeatureType.float, FeatureType.int)]
    return numerical, [f.name for f in schema.features if f.name not in numerical]


class ReferenceRows:
    """Each dataset's latest training rows, fetched again only when its training split changes.

    Counting the split is one small request; the rows (thousands) are fetched when the count
    or the dataset itself (deleted and registered again) differs from what was fetched.
    """

    def __init__(self, size: int = REFERENCES_KEPT) -> None:
        self._frames: LRU[str, tuple[tuple[Any, ...], Frame]] = LRU(size)

    async def get(self, ml: MLDataClient, schema: DatasetSchema, created: object, rows: int) -> Frame:
        total = await count(ml, schema, WindowSpec("training"))
        version = (created, total, rows)
        kept = self._frames.get(schema.name)
        if kept is not None and kept[0] == version:
            return kept[1]
        # Capped at `rows` exactly: the latest rows whole, in time order, never a sample.
        frame = await fetch(ml, schema, WindowSpec("training", last=rows), rows)
        self._frames.put(schema.name, (version, frame))
        return frame


@dataclass
class Summary:
    """One check before it is stored."""

    service: str
    dataset: str
    rows_current: int
    drift: dict[str, FeatureDrift] | None = None
    decision: DriftDecision | None = None
    target_drift: dict[str, Any] | None = None
    prediction_drift: dict[str, Any] | None = None
    assessment: Assessment = field(default_factory=Assessment)  # the performance part (monitoring_api.performance)

    @property
    def calibrated(self) -> bool:
        return self.decision is not None and self.decision.status is DriftStatus.calibrated

    @property
    def drift_share(self) -> float | None:
        """Share of the tested features over their calibrated thresholds (None: no calibrated decision)."""
        decision = self.decision
        if not self.calibrated or decision is None or not decision.features_tested:
            return None
        return len(decision.features_exceeded) / decision.features_tested

    @property
    def performance(self) -> list[PerformanceVerdict]:
        return self.assessment.performance

    def row(self) -> dict[str, Any]:
        """The check as `CheckStore.record` stores it (JSON columns as plain dicts and lists)."""
        decision, a = self.decision, self.assessment
        realized = a.realized
        return {
            "service": self.service, "dataset": self.dataset, "rows_current": self.rows_current,
            "rows_labeled": a.rows_labeled, "drift_share": self.drift_share,
            "dataset_drift": decision.detected if self.calibrated and decision else None,
            "drift": {n: f.model_dump(mode="json") for n, f in self.drift.items()} if self.drift else None,
            "drift_decision": decision.model_dump(mode="json") if decision else None,
            "target_drift": self.target_drift, "prediction_drift": self.prediction_drift,
            "mae": realized.mae if realized else None, "rmse": realized.rmse if realized else None,
            "r2": realized.r2 if realized else None, "model": a.model, "model_version": a.model_version,
            "realized": realized.model_dump(mode="json") if realized else None,
            "estimated": a.estimated.model_dump(mode="json") if a.estimated else None,
            "reference_error": a.reference_error.model_dump(mode="json") if a.reference_error else None,
            "performance": [v.model_dump(mode="json") for v in a.performance],
            "rows_other_models": a.rows_other_models,
        }


# -- drift


class Drift:
    """The calibrated drift decision of a window, with the process's reference rows and calibration cache."""

    def __init__(self, settings: Settings, calibrations: CalibrationCache, references: ReferenceRows) -> None:
        self.settings = settings
        self.calibrations = calibrations
        self.references = references
        self.stattests = StatTests(numerical=settings.drift_numerical_stattest,
                                   categorical=settings.drift_categorical_stattest)

    async def reference(self, ml: MLDataClient, schema: DatasetSchema, created: object) -> Frame:
        return await self.references.get(ml, schema, created, self.settings.reference_rows)

    async def calibration(self, schema: DatasetSchema, reference: Frame, current_rows: int) -> Calibration:
        """The calibration at the window size of `current_rows` rows (computed once per reference and size,
        the same one a data drift report of such a window uses)."""
        numerical, categorical = feature_kinds(schema)
        return await asyncio.to_thread(window_calibration, self.calibrations, schema.name, reference.rows, numerical,
                                       categorical, current_rows, self.settings.drift_false_alarm, self.stattests)

    async def decide(self, schema: DatasetSchema, reference: Frame, current: pd.DataFrame
                     ) -> tuple[dict[str, FeatureDrift], DriftDecision]:
        calibration = await self.calibration(schema, reference, len(current))
        numerical, categorical = feature_kinds(schema)
        statistics = await asyncio.to_thread(feature_statistics, reference.rows, current, numerical, categorical,
                                             self.stattests)
        return decide(calibration, statistics)

    def no_data(self, reason: str) -> DriftDecision:
        return DriftDecision(status=DriftStatus.no_data, detected=False, reason=reason,
                             false_alarm=self.settings.drift_false_alarm)


async def target_drift(schema: DatasetSchema, reference: Frame, current: Frame) -> dict[str, Any]:
    """Evidently's own verdict on the target and the predictions: informational, no alert comes of it."""
    windows = build_windows(ReportKind.target_drift, schema, reference, current, None)
    columns: dict[str, Any] = (await asyncio.to_thread(json_report, ReportKind.target_drift, windows))["columns"]
    return columns


async def summarize(service: Service, peers: PeerClients, drift: Drift, models: ModelReferences,
                    settings: Settings) -> Summary:
    dataset = await registered_dataset(peers.queue_manager, service.dataset)
    schema = dataset.to_schema()
    current = await fetch(peers.ml_data, schema, WindowSpec("production", last=settings.check_window_rows,
                                                            service=service.name), settings.sample_cap)
    summary = Summary(service=service.name, dataset=schema.name, rows_current=current.total)
    if current.total == 0:
        summary.decision = drift.no_data(f"no production rows of service {service.name} yet")
        return summary
    reference = await drift.reference(peers.ml_data, schema, dataset.created_at)
    if reference.total == 0:
        summary.decision = drift.no_data(f"dataset {schema.name} has no training rows to compare with")
    else:
        summary.drift, summary.decision = await drift.decide(schema, reference, current.rows)
        target = await target_drift(schema, reference, current)
        summary.target_drift, summary.prediction_drift = target.get(schema.target), target.get(PREDICTION)
    summary.assessment = await assess(schema, service.algorithm, current.rows, models, settings)
    return summary


# -- alerts and episodes


def alerts_for(summary: Summary) -> list[dict[str, Any]]:
    """The per-check alerts (the raw series): a drift decision, and each degraded performance verdict."""
    found = []
    decision = summary.decision
    if decision is not None and decision.detected and summary.drift:
        worst = max(decision.features_exceeded, key=lambda n: _ratio(summary.drift or {}, n))
        feature = summary.drift[worst]
        found.append({"kind": DRIFT, "value": feature.value, "threshold": feature.threshold, "estimated": False,
                      "message": f"service {summary.service}: {decision.reason}"})
    for v in summary.performance:
        if v.degraded:
            found.append({"kind": PERFORMANCE, "value": v.value, "threshold": v.limit, "estimated": v.estimated,
                          "message": f"service {summary.service}: {v.reason}"})
    return found


def _ratio(drift: dict[str, FeatureDrift], name: str) -> float:
    f = drift[name]
    return f.value / f.threshold if f.value is not None and f.threshold else 0.0


def outcomes_for(summary: Summary, alerts: list[dict[str, Any]]) -> list[Outcome]:
    """What the check says about each kind of episode (None: it could not decide)."""
    share = summary.drift_share
    drift_alert = next((a for a in alerts if a["kind"] == DRIFT), None)
    exceeded = summary.decision.features_exceeded if summary.decision else []
    drift = Outcome(
        DRIFT, alerting=bool(drift_alert) if summary.calibrated else None, features=tuple(exceeded),
        worst={"drift_share": share, "ratio": {n: _ratio(summary.drift or {}, n) for n in exceeded}},
        **_described(drift_alert))
    degraded = [v for v in summary.performance if v.degraded]
    decided = any(v.decided for v in summary.performance)
    # The labelled verdict describes the episode when there is one; the estimate otherwise.
    first = next((a for a in alerts if a["kind"] == PERFORMANCE and not a["estimated"]),
                 next((a for a in alerts if a["kind"] == PERFORMANCE), None))
    worst: dict[str, Any] = {}
    for v in degraded:
        worst.setdefault("estimated" if v.estimated else "realized", {})[v.metric] = v.value
    perf = Outcome(PERFORMANCE, alerting=bool(degraded) if decided else None, worst=worst,
                   estimated=bool(degraded) and all(v.estimated for v in degraded), **_described(first))
    return [drift, perf]


def _described(alert: dict[str, Any] | None) -> dict[str, Any]:
    if alert is None:
        return {}
    return {"value": alert["value"], "threshold": alert["threshold"], "message": alert["message"]}


class Monitor:
    """Runs checks on demand and on a schedule; one per monitoring_api process, with the process's clients."""

    def __init__(self, settings: Settings, store: CheckStore, events: EventPublisher, peers: PeerClients,
                 drift: Drift, models: ModelReferences, webhook: httpx.AsyncClient | None = None,
                 challengers: ChallengerMonitor | None = None) -> None:
        self.settings = settings
        self.store = store
        self.events = events
        self.peers = peers
        self.drift = drift
        self.models = models
        self.webhook = webhook  # set when settings.webhook_url is
        self.challengers = challengers  # compares the services' champions and challengers on the schedule
        self._task: asyncio.Task[None] | None = None

    async def check(self, service: Service) -> dict[str, Any]:
        summary = await summarize(service, self.peers, self.drift, self.models, self.settings)
        alerts = alerts_for(summary)
        recorded = await asyncio.to_thread(self.store.record, summary.row(), alerts, outcomes_for(summary, alerts),
                                           self.settings.episode_clear_checks)
        for alert in recorded.alerts:
            log.warning("alert %s (episode %s): %s", alert["kind"], alert["episode_id"], alert["message"])
        for announcement in recorded.announcements:
            if announcement.change is Change.opened:
                key, body = opened_event(announcement.episode, announcement.outcome)
            else:
                key, body = resolved_event(announcement.episode)
            log.warning("episode %s %s: %s on %s", announcement.episode.id, announcement.change.value,
                        announcement.episode.kind, service.name)
            await self.events.publish(key, body)
            await self._post_webhook(body)
        return {**recorded.check, "alerts": recorded.alerts}

    async def calibration(self, service: Service | None, dataset: str, window_rows: int | None) -> CalibrationOut:
        """The calibration a check of `service` (or of any service of `dataset`) uses at `window_rows` rows."""
        registered = await registered_dataset(self.peers.queue_manager, dataset)
        schema = registered.to_schema()
        if window_rows is None:
            window_rows = self.settings.check_window_rows
            if service is not None:  # a service with fewer rows than a full window is checked at what it has
                produced = await count(self.peers.ml_data, schema, WindowSpec("production", service=service.name))
                window_rows = min(window_rows, produced) or window_rows
        reference = await self.drift.reference(self.peers.ml_data, schema, registered.created_at)
        calibration = await self.drift.calibration(schema, reference, min(window_rows, self.settings.sample_cap))
        return CalibrationOut(
            dataset=schema.name, service=service.name if service else None, status=calibration.status,
            reason=calibration.reason, window_rows=calibration.window_rows, reference_rows=calibration.reference_rows,
            false_alarm=calibration.false_alarm, per_feature_alpha=calibration.per_feature_alpha,
            thresholds=calibration.thresholds, statistics=calibration.statistics, blocks=calibration.blocks,
            seconds=calibration.seconds, method=calibration.method)

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
        if self.challengers is not None:  # first: a comparison is cheap, a promotion it decides is not delayed
            await self.challengers.check_all(services)
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
