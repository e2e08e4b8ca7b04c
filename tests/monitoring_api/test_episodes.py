"""Checks judged against calibrated thresholds and the model's own error, grouped into alert episodes.

The state machine's rules first (pure), then through the real services: production rows written
straight to ml_data_api for services the schedule leaves alone, so each check sees the window the
test made; events read from a queue of the test's own on the events exchange.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest

from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.clients.monitoring import MonitoringClient
from conveyor.schemas.monitoring import CalibrationOut, CheckPoint, Episode, EpisodePage, EpisodeStatus, FeatureDrift
from conveyor.schemas.services import ServiceCreate
from conveyor_tools.demo_dataset import DEMO_DATASET, demo_splits, demo_stream
from monitoring_api.check_store import older_drift
from monitoring_api.episodes import (
    DRIFT,
    PERFORMANCE,
    Change,
    CheckRef,
    Outcome,
    advance,
    merge_worst,
    opened_event,
    resolved_event,
)
from tests.monitoring_api.conftest import DRIFTED, WINDOW_ROWS, EventQueue, Inserted, Monitored
from tests.support import register_dataset, wait_for

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _check(n: int) -> CheckRef:
    return CheckRef(n, T0 + timedelta(minutes=n), "svc", "ds")


def _drift(alerting: bool | None, features: tuple[str, ...] = (), share: float = 0.0) -> Outcome:
    return Outcome(DRIFT, alerting, features, {"drift_share": share}, message="drift")


def _run(outcomes: list[Outcome], clear_checks: int = 2) -> list[tuple[Change, Episode | None]]:
    episode: Episode | None = None
    steps = []
    for n, outcome in enumerate(outcomes, start=1):
        step = advance(episode, outcome, _check(n), clear_checks)
        episode = step.episode.model_copy(update={"id": 7}) if step.episode else None
        steps.append((step.change, episode))
        if step.change is Change.resolved:
            episode = None
    return steps


def test_consecutive_alerting_checks_make_one_episode_that_ends_after_the_clear_checks() -> None:
    steps = _run([_drift(True, ("a",), 0.1), _drift(True, ("b",), 0.3), _drift(True, ("a",), 0.2),
                  _drift(False), _drift(False), _drift(False)])
    assert [c for c, _ in steps] == [Change.opened, Change.extended, Change.extended, Change.quiet, Change.resolved,
                                     Change.none]
    resolved = steps[4][1]
    assert resolved is not None and resolved.status is EpisodeStatus.resolved
    assert resolved.checks == 3 and resolved.features == ["a", "b"] and resolved.worst == {"drift_share": 0.3}
    assert (resolved.first_check_id, resolved.last_check_id) == (1, 3)
    assert resolved.started_at == _check(1).at and resolved.ended_at == _check(5).at


def test_one_quiet_check_between_alerting_ones_does_not_split_the_episode() -> None:
    steps = _run([_drift(True, ("a",)), _drift(False), _drift(True, ("a",)), _drift(False), _drift(False)])
    assert [c for c, _ in steps] == [Change.opened, Change.quiet, Change.extended, Change.quiet, Change.resolved]
    assert steps[2][1] is not None and steps[2][1].quiet_checks == 0 and steps[2][1].checks == 2


def test_a_check_that_cannot_decide_neither_extends_nor_ends_an_episode() -> None:
    steps = _run([_drift(True, ("a",)), _drift(None), _drift(False), _drift(None), _drift(None), _drift(False)])
    assert [c for c, _ in steps] == [Change.opened, Change.none, Change.quiet, Change.none, Change.none,
                                     Change.resolved]
    assert _run([_drift(None), _drift(False)]) == [(Change.none, None), (Change.none, None)]


def test_an_estimated_episode_is_confirmed_once_labels_agree() -> None:
    estimated = Outcome(PERFORMANCE, True, worst={"estimated": {"mae": 30.0}}, estimated=True)
    realized = Outcome(PERFORMANCE, True, worst={"realized": {"mae": 28.0}, "estimated": {"mae": 25.0}})
    steps = _run([estimated, estimated, realized, estimated])
    flags = [e.estimated for _, e in steps if e is not None]
    assert flags == [True, True, False, False]
    last = steps[-1][1]
    assert last is not None and last.worst == {"estimated": {"mae": 30.0}, "realized": {"mae": 28.0}}


def test_worst_values_are_the_worse_of_each() -> None:
    assert merge_worst({"mae": 2.0, "f1": 0.8, "ratio": {"a": 1.5}},
                       {"mae": 1.0, "f1": 0.6, "ratio": {"a": 1.2, "b": 3.0}}) == \
        {"mae": 2.0, "f1": 0.6, "ratio": {"a": 1.5, "b": 3.0}}


def test_event_bodies_carry_the_episode() -> None:
    [(_, episode)] = _run([Outcome(DRIFT, True, ("a",), value=0.4, threshold=0.2, message="drift on a")])
    assert episode is not None
    key, body = opened_event(episode, Outcome(DRIFT, True, value=0.4, threshold=0.2, message="drift on a"))
    assert key == "service.svc.drift_detected"
    assert body["event"] == DRIFT and body["value"] == 0.4 and body["threshold"] == 0.2
    assert body["estimated"] is False and Episode.model_validate(body["episode"]) == episode
    key, body = resolved_event(episode)
    assert key == "service.svc.episode_resolved" and body["kind"] == DRIFT and body["event"] == "episode_resolved"


def test_a_check_stored_before_calibration_reads_in_todays_shape() -> None:
    older = {"id": 1, "service": "svc", "dataset": "ds", "at": T0, "rows_current": 500, "rows_labeled": 0,
             "drift_share": 0.5, "dataset_drift": True, "drift": {"a": {"detected": True, "score": 0.4}},
             "target_drift": None, "prediction_drift": None, "mae": None, "rmse": None, "r2": None,
             "performance": [], "rows_other_models": 0}
    check = CheckPoint.model_validate(older_drift(older))
    assert check.drift == {"a": FeatureDrift(statistic="evidently default", value=0.4, threshold=None, exceeded=True)}


# -- through the real services

STREAM = demo_stream(3000, seed=5, after_rows=4000)  # the demo's undrifted continuation of the training rows


def _shifted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(**{name: frame[name] + 80.0 for name in DRIFTED})


def _episodes(monitored: Monitored, **params: str) -> dict:
    answer = httpx.get(f"{monitored.stack.monitoring_url}/monitoring_api/episodes", params=params,
                       headers=monitored.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_steady_stream_raises_no_drift_over_twenty_sliding_windows(inserted: Inserted) -> None:
    inserted.add(STREAM.iloc[:WINDOW_ROWS])
    checks = [inserted.check()]
    for start in range(100, 1901, 100):
        inserted.add(STREAM.iloc[WINDOW_ROWS + start - 100:WINDOW_ROWS + start])
        checks.append(inserted.check())
    assert len(checks) == 20
    for check in checks:
        decision = check["drift_decision"]
        assert decision["status"] == "calibrated" and decision["window_rows"] == WINDOW_ROWS, decision
        assert check["drift_share"] == 0 and check["dataset_drift"] is False, decision["reason"]
        assert all(f["threshold"] is not None and not f["exceeded"] for f in check["drift"].values())
        assert not [a for a in check["alerts"] if a["kind"] == DRIFT]
    assert "Bonferroni" in checks[-1]["drift_decision"]["reason"]
    assert _episodes(inserted.monitored, service=inserted.service, kind=DRIFT)["total"] == 0


def test_drift_opens_one_episode_once_and_resolves_after_the_clear_checks(
    inserted: Inserted, webhook: tuple[str, list[dict]]
) -> None:
    events = EventQueue(f"service.{inserted.service}.#")
    # No labels: the shifted sensors would also make the model's error grow, a performance episode of its own.
    inserted.add(STREAM.iloc[:WINDOW_ROWS], error_factor=None)
    assert inserted.check()["alerts"] == []
    inserted.add(_shifted(STREAM.iloc[WINDOW_ROWS:2 * WINDOW_ROWS]), error_factor=None)

    async def two_at_once() -> list[dict]:  # an on-demand check racing another: one episode all the same
        async with httpx.AsyncClient(timeout=120, headers=inserted.monitored.headers) as client:
            url = f"{inserted.monitored.stack.monitoring_url}/monitoring_api/checks/run"
            answers = await asyncio.gather(*(client.post(url, params={"service": inserted.service})
                                             for _ in range(2)))
        return [a.json() for a in answers]

    racing = asyncio.run(two_at_once())
    drift_alerts = [a for check in racing for a in check["alerts"] if a["kind"] == DRIFT]
    assert len(drift_alerts) == 2 and len({a["episode_id"] for a in drift_alerts}) == 1
    assert set(racing[0]["drift_decision"]["features_exceeded"]) == set(DRIFTED)
    episode_id = drift_alerts[0]["episode_id"]
    inserted.add(STREAM.iloc[2 * WINDOW_ROWS:3 * WINDOW_ROWS], error_factor=None)
    quiet = inserted.check()
    assert quiet["dataset_drift"] is False and quiet["alerts"] == []
    url = f"{inserted.monitored.stack.monitoring_url}/monitoring_api/episodes/{episode_id}"
    still_open = httpx.get(url, headers=inserted.monitored.headers).json()
    assert still_open["status"] == "open" and still_open["quiet_checks"] == 1
    inserted.check()
    episode = httpx.get(url, headers=inserted.monitored.headers).json()
    assert episode["status"] == "resolved" and episode["ended_at"] and episode["checks"] == 2
    assert set(episode["features"]) == set(DRIFTED) and episode["worst"]["drift_share"] > 0

    collected: list[dict] = []
    received = wait_for(lambda: _events_until(events, collected, "episode_resolved"), 30,
                        "the episode_resolved event on the events exchange")
    assert [e["event"] for e in received] == [DRIFT, "episode_resolved"]
    assert all(e["episode"]["id"] == episode_id for e in received)
    assert received[0]["threshold"] is not None and received[0]["estimated"] is False
    posted = wait_for(lambda: [b for b in webhook[1] if b["service"] == inserted.service and
                               b["event"] == "episode_resolved"], 30, "the resolved episode posted to the webhook")
    assert posted[0]["episode"]["id"] == episode_id
    assert [b["event"] for b in webhook[1] if b["service"] == inserted.service] == [DRIFT, "episode_resolved"]
    page = _episodes(inserted.monitored, service=inserted.service)
    assert page["total"] == 1 and page["items"][0]["id"] == episode_id


def _events_until(events: EventQueue, collected: list[dict], last: str) -> list[dict]:
    collected.extend(events.drain())
    return collected if any(e["event"] == last for e in collected) else []


def test_a_reference_too_small_to_calibrate_raises_nothing_and_says_why(monitored: Monitored) -> None:
    stack = monitored.stack
    schema = DEMO_DATASET.model_copy(update={"name": f"mon_tiny_{uuid.uuid4().hex[:6]}"})
    service = f"mon_tiny_svc_{uuid.uuid4().hex[:6]}"
    training, _ = demo_splits(rows=75, seed=5)

    async def prepare() -> None:
        async with QueueManagerClient(stack.qm_url, stack.config.api_token) as qm, \
                MLDataClient(stack.ml_url, stack.config.api_token) as ml:
            await register_dataset(qm, ml, schema, training=training)
            await qm.create_service(ServiceCreate(name=service, dataset=schema.name, queue=service, enabled=False))

    asyncio.run(prepare())
    tiny = Inserted(monitored, service)
    tiny.monitored = Monitored(stack, schema.name, monitored.model_name, monitored.model)
    tiny.add(_shifted(STREAM.iloc[:WINDOW_ROWS]), error_factor=None)  # drifted, yet no decision can be made
    check = tiny.check()
    decision = check["drift_decision"]
    assert decision["status"] == "uncalibrated" and decision["detected"] is False
    assert "60 rows" in decision["reason"], decision["reason"]
    assert check["dataset_drift"] is None and check["drift_share"] is None and check["alerts"] == []
    assert all(f["threshold"] is None and not f["exceeded"] for f in check["drift"].values())
    answer = httpx.get(f"{stack.monitoring_url}/monitoring_api/calibration", params={"service": service},
                       headers=monitored.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "uncalibrated" and "60 rows" in answer.json()["reason"]


def test_performance_degraded_relative_to_the_models_own_error(monitored: Monitored) -> None:
    window = STREAM.iloc[300:300 + WINDOW_ROWS]
    unbiased, biased = (Inserted(monitored, f"mon_perf_{uuid.uuid4().hex[:6]}") for _ in range(2))
    for inserted, factor in ((unbiased, 1.0), (biased, 1.3)):
        monitored.add_service(inserted.service, enabled=False)
        inserted.add(window, error_factor=factor)
    fine = unbiased.check()
    reference = fine["reference_error"]
    assert reference["rows"] == 800 and "testing" in reference["source"] and reference["mae"] > 0
    assert fine["model"] == monitored.model_name and fine["model_version"] == 1
    assert fine["realized"]["rows"] == WINDOW_ROWS and fine["estimated"]["method"] == "DLE"
    verdicts = {(v["metric"], v["estimated"]): v for v in fine["performance"]}
    assert set(verdicts) == {("mae", False), ("rmse", False), ("mae", True), ("rmse", True)}
    assert all(v["decided"] and not v["degraded"] for v in verdicts.values()), verdicts
    assert verdicts[("mae", False)]["limit"] == pytest.approx(reference["mae"] * 1.15)
    assert not [a for a in fine["alerts"] if a["kind"] == PERFORMANCE]

    worse = biased.check()
    assert worse["realized"]["mae"] == pytest.approx(fine["realized"]["mae"] * 1.3)
    degraded = {(v["metric"], v["estimated"]) for v in worse["performance"] if v["degraded"]}
    # Labels say 30 % worse; the estimate (features and predictions alone) cannot see a change of labels.
    assert degraded == {("mae", False), ("rmse", False)}
    alerts = [a for a in worse["alerts"] if a["kind"] == PERFORMANCE]
    assert len(alerts) == 2 and not any(a["estimated"] for a in alerts) and alerts[0]["episode_id"]
    page = _episodes(monitored, service=biased.service, kind=PERFORMANCE, status="open")
    assert page["total"] == 1 and page["items"][0]["estimated"] is False
    assert page["items"][0]["worst"]["realized"]["mae"] == pytest.approx(worse["realized"]["mae"])
    assert _episodes(monitored, service=unbiased.service)["total"] == 0
    # Rows another version predicted say nothing about this one's error: left out, and the check says so.
    unbiased.add(STREAM.iloc[300 + WINDOW_ROWS:350 + WINDOW_ROWS], error_factor=3.0, model_version=2)
    mixed = unbiased.check()
    assert mixed["rows_current"] == WINDOW_ROWS and mixed["rows_other_models"] == 50
    assert mixed["realized"]["rows"] == mixed["estimated"]["rows"] == WINDOW_ROWS - 50
    assert all("left out" in v["reason"] and not v["degraded"] for v in mixed["performance"])


def test_calibration_and_episode_endpoints_answer_bad_requests_with_a_sentence(inserted: Inserted) -> None:
    stack, headers = inserted.monitored.stack, inserted.monitored.headers
    url = f"{stack.monitoring_url}/monitoring_api"
    answer = httpx.get(f"{url}/calibration", params={"dataset": inserted.monitored.dataset}, headers=headers,
                       timeout=120)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "calibrated" and body["window_rows"] == WINDOW_ROWS and body["reference_rows"] == 3200
    assert set(body["thresholds"]) == set(body["statistics"]) and len(body["thresholds"]) == 11
    assert body["blocks"] > 0 and "Bonferroni" in body["method"]

    async def through_the_client() -> tuple[CalibrationOut, EpisodePage]:
        async with MonitoringClient(stack.monitoring_url, stack.config.api_token) as client:
            return (await client.calibration(service=inserted.service),
                    await client.episodes(service=inserted.service, status=EpisodeStatus.open, limit=5))

    calibration, page = asyncio.run(through_the_client())
    assert calibration.thresholds == body["thresholds"] and calibration.service == inserted.service
    assert page.total == 0 and page.items == []
    cases = [
        (httpx.get(f"{url}/calibration", params={"dataset": inserted.monitored.dataset}), 401, "token"),
        (httpx.get(f"{url}/calibration", headers=headers), 422, "dataset"),
        (httpx.get(f"{url}/calibration", params={"service": "nope"}, headers=headers), 404, "nope"),
        (httpx.get(f"{url}/calibration", params={"service": inserted.service, "dataset": "other"}, headers=headers),
         422, inserted.monitored.dataset),
        (httpx.get(f"{url}/calibration", params={"dataset": "nope"}, headers=headers), 404, "nope"),
        (httpx.get(f"{url}/episodes/999999999", headers=headers), 404, "999999999"),
        (httpx.get(f"{url}/episodes", params={"kind": "fire"}, headers=headers), 422, "kind"),
        (httpx.get(f"{url}/episodes"), 401, "token"),
    ]
    for response, status, needle in cases:
        assert response.status_code == status, response.text
        assert needle in response.json()["detail"], response.text
