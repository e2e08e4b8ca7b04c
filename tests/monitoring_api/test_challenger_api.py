"""Champion against challenger through the real stack: rows written to ml_data_api in split and shadow form,
the comparison's verdicts, its refusals, and the schedule's series with its automatic promotion."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor

from conveyor.clients import MonitoringClient, QueueManagerClient
from conveyor.clients.peers import PeerClients
from conveyor.pg import Database
from conveyor.records import to_records
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.challenger import ChallengerPoint, ChallengerVerdict
from conveyor.schemas.services import (
    ChallengerMode,
    ChallengerPolicy,
    OldChampion,
    Service,
    ServiceChange,
    ServiceCreate,
    ServiceUpdate,
)
from conveyor.training import dump_model
from conveyor_tools.demo_dataset import DEMO_FEATURES, demo_splits, demo_stream
from conveyor_tools.stack import Stack
from monitoring_api.challenger_monitor import ChallengerMonitor
from monitoring_api.challenger_store import ChallengerStore
from monitoring_api.settings import Settings
from tests.monitoring_api.conftest import Monitored
from tests.support import wait_for

ROWS = 600  # per service: split gives each model 300 labelled rows, over the policy's 200
SHADOW, SPLIT = ChallengerMode.shadow, ChallengerMode.split


@dataclass(frozen=True)
class Models:
    """Two models of the package's dataset: the package's linear model (good) and one predicting the mean."""

    good: AlgorithmRef
    good_again: AlgorithmRef  # the same model as another version: a challenger equal to the champion
    mean: AlgorithmRef
    stream: pd.DataFrame  # the records every service here is given, with their true quality
    good_predictions: np.ndarray
    mean_prediction: float

    def predictions(self, model: AlgorithmRef) -> np.ndarray:
        if model == self.mean:
            return np.full(len(self.stream), self.mean_prediction)
        return self.good_predictions


@pytest.fixture(scope="module")
def models(monitored: Monitored) -> Models:
    stack = monitored.stack
    name = f"chal_{uuid.uuid4().hex[:6]}"
    training, _ = demo_splits(rows=4000, seed=5)
    mean = DummyRegressor().fit(training[DEMO_FEATURES], training["quality"])

    async def upload() -> tuple[AlgorithmRef, AlgorithmRef, AlgorithmRef]:
        async with QueueManagerClient(stack.qm_url, stack.config.api_token) as qm:
            good = await qm.upload_algorithm(name=f"{name}_good", dataset=monitored.dataset,
                                             model=dump_model(monitored.model))
            again = await qm.upload_algorithm(name=f"{name}_good", dataset=monitored.dataset,
                                              model=dump_model(monitored.model))
            dummy = await qm.upload_algorithm(name=f"{name}_mean", dataset=monitored.dataset, model=dump_model(mean))
            return (AlgorithmRef(name=good.name, version=good.version),
                    AlgorithmRef(name=again.name, version=again.version),
                    AlgorithmRef(name=dummy.name, version=dummy.version))

    good, again, dummy = asyncio.run(upload())
    stream = demo_stream(ROWS, seed=21, after_rows=4000)
    return Models(good, again, dummy, stream, monitored.model.predict(stream[DEMO_FEATURES]),
                  float(mean.predict(stream[DEMO_FEATURES].iloc[:1])[0]))


@dataclass
class Compared:
    """A service with a champion and a challenger whose production rows (all labelled) the test wrote."""

    monitored: Monitored
    name: str

    @property
    def stack(self) -> Stack:
        return self.monitored.stack

    def compare(self, token: bool = True, **window: str | int) -> httpx.Response:
        return httpx.get(f"{self.stack.monitoring_url}/monitoring_api/challenger",
                         params={"service": self.name, **window},
                         headers=self.monitored.headers if token else {}, timeout=60)


def create_service(monitored: Monitored, models: Models, mode: ChallengerMode, champion: AlgorithmRef,
                   challenger: AlgorithmRef, *, enabled: bool = False,
                   policy: ChallengerPolicy | None = None) -> str:
    name = f"chal_svc_{uuid.uuid4().hex[:6]}"
    stack = monitored.stack

    async def create() -> None:
        async with QueueManagerClient(stack.qm_url, stack.config.api_token) as qm:
            await qm.create_service(ServiceCreate(
                name=name, dataset=monitored.dataset, queue=name, enabled=enabled, algorithm=champion,
                challenger=challenger, challenger_mode=mode, challenger_share=0.5,
                challenger_policy=policy or ChallengerPolicy()))

    asyncio.run(create())
    return name


def write_rows(monitored: Monitored, models: Models, service: str, mode: ChallengerMode, champion: AlgorithmRef,
               challenger: AlgorithmRef, shadow_noise: float = 0.0) -> None:
    """The stream's records as production rows of `service`, labelled with their true quality. Split: every
    other record predicted by the challenger (a fixed choice, so verdicts do not hang on a random split);
    shadow: every record by both, the challenger's prediction moved by `shadow_noise` x N(0, 1)."""
    stream = models.stream
    at = datetime(2031, 1, 1, tzinfo=UTC)
    ids = [f"{service}-{i}" for i in range(len(stream))]
    rows = stream[DEMO_FEATURES].assign(date_time=[at + timedelta(minutes=i) for i in range(len(stream))],
                                        record_id=ids, service=service)
    mine, theirs = models.predictions(champion), models.predictions(challenger)
    if mode is SHADOW:
        noise = np.random.default_rng(9).standard_normal(len(stream)) * shadow_noise
        rows = rows.assign(prediction=mine, model_name=champion.name, model_version=champion.version,
                           model_role="champion", shadow_prediction=theirs + noise,
                           shadow_model_name=challenger.name, shadow_model_version=challenger.version)
    else:
        to_challenger = np.arange(len(stream)) % 2 == 1
        rows = rows.assign(prediction=np.where(to_challenger, theirs, mine),
                           model_name=np.where(to_challenger, challenger.name, champion.name),
                           model_version=np.where(to_challenger, challenger.version, champion.version),
                           model_role=np.where(to_challenger, "challenger", "champion"))
    base = f"{monitored.stack.ml_url}/ml_data_api/datasets/{monitored.dataset}"
    answer = httpx.post(f"{base}/production/rows", json={"rows": to_records(rows)}, headers=monitored.headers,
                        timeout=60)
    assert answer.status_code in (200, 201), answer.text
    labels = [{"record_id": i, "label": float(q)} for i, q in zip(ids, stream["quality"], strict=True)]
    answer = httpx.post(f"{base}/labels", json={"labels": labels}, headers=monitored.headers, timeout=60)
    assert answer.status_code == 200, answer.text


def compared(monitored: Monitored, models: Models, mode: ChallengerMode, champion: AlgorithmRef,
             challenger: AlgorithmRef, shadow_noise: float = 0.0) -> Compared:
    service = create_service(monitored, models, mode, champion, challenger)
    write_rows(monitored, models, service, mode, champion, challenger, shadow_noise)
    return Compared(monitored, service)


@pytest.mark.parametrize("mode", [SPLIT, SHADOW], ids=["split", "shadow"])
def test_a_good_model_beats_one_predicting_the_mean_and_not_the_other_way_round(
        monitored: Monitored, models: Models, mode: ChallengerMode) -> None:
    better = compared(monitored, models, mode, champion=models.mean, challenger=models.good)
    answer = better.compare()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["verdict"] == "challenger_better" and body["rows_needed"] == 0, body["reason"]
    assert body["mode"] == mode.value and body["difference"]["paired"] is (mode is SHADOW)
    champion, challenger = body["champion"], body["challenger"]
    assert champion["model"] == models.mean.model_dump() and challenger["model"] == models.good.model_dump()
    expected = (ROWS // 2, ROWS // 2) if mode is SPLIT else (ROWS, ROWS)
    assert (champion["rows"], challenger["rows"]) == expected
    assert (champion["labelled_rows"], challenger["labelled_rows"]) == expected
    truth = models.stream["quality"].to_numpy()
    rows = slice(1, None, 2) if mode is SPLIT else slice(None)
    assert challenger["metrics"]["mae"] == pytest.approx(np.abs(models.good_predictions - truth)[rows].mean())
    assert body["difference"]["metric"] == "mae" and body["difference"]["low"] > 0
    assert body["difference"]["value"] == pytest.approx(champion["metrics"]["mae"] - challenger["metrics"]["mae"])
    assert body["window_start"].startswith("2031-01-01T00:00") and body["reason"].startswith("challenger better")

    worse = compared(monitored, models, mode, champion=models.good, challenger=models.mean).compare().json()
    assert worse["verdict"] == "challenger_worse" and worse["difference"]["high"] < 0, worse["reason"]


@pytest.mark.parametrize("mode", [SPLIT, SHADOW], ids=["split", "shadow"])
def test_an_equal_challenger_is_not_significant_with_the_rows_it_would_need(
        monitored: Monitored, models: Models, mode: ChallengerMode) -> None:
    # Split: the same model's predictions on alternate records; shadow: on the same records, a little noise.
    equal = compared(monitored, models, mode, champion=models.good, challenger=models.good_again, shadow_noise=0.3)
    body = equal.compare().json()
    assert body["verdict"] == "not_significant", body["reason"]
    assert body["difference"]["low"] < 0 < body["difference"]["high"]
    assert isinstance(body["rows_needed"], int) and body["rows_needed"] > 0
    assert "includes 0" in body["reason"] and f"about {body['rows_needed']} more labelled rows" in body["reason"]

    async def through_the_client() -> None:
        async with MonitoringClient(monitored.stack.monitoring_url, monitored.stack.config.api_token) as client:
            latest = await client.challenger(equal.name, current_rows=200)  # the latest 200 rows only
            assert latest.verdict is ChallengerVerdict.not_significant
            each = 100 if mode is SPLIT else 200
            assert latest.champion.labelled_rows == latest.challenger.labelled_rows == each
            assert latest.rows_needed is not None and latest.rows_needed >= 200 - each
            if mode is SPLIT:  # 100 labelled rows each: under the policy's minimum whatever the interval says
                assert "each model needs 200 labelled rows" in latest.reason
            series = await client.challenger_history(equal.name)
            assert series.service == equal.name and series.points == [], "a disabled service is not scheduled"

    asyncio.run(through_the_client())


def test_refusals_say_why(monitored: Monitored, models: Models) -> None:
    monitoring, headers = monitored.stack.monitoring_url, monitored.headers
    alone = f"chal_alone_{uuid.uuid4().hex[:6]}"
    monitored.add_service(alone, enabled=False)
    answer = httpx.get(f"{monitoring}/monitoring_api/challenger", params={"service": alone}, headers=headers)
    assert answer.status_code == 409 and "has no challenger" in answer.json()["detail"]
    assert "PATCH /queue_manager/services/" in answer.json()["detail"]
    unknown = httpx.get(f"{monitoring}/monitoring_api/challenger", params={"service": "chal_nobody"}, headers=headers)
    assert unknown.status_code == 404, unknown.text
    history = httpx.get(f"{monitoring}/monitoring_api/challenger/history", params={"service": "chal_nobody"},
                        headers=headers)
    assert history.status_code == 404, history.text
    quiet = httpx.get(f"{monitoring}/monitoring_api/challenger/history", params={"service": alone}, headers=headers)
    assert quiet.status_code == 200 and quiet.json() == {"service": alone, "points": []}
    for path in ("challenger", "challenger/history"):
        assert httpx.get(f"{monitoring}/monitoring_api/{path}", params={"service": alone}).status_code in (401, 403)
    service = create_service(monitored, models, SPLIT, models.mean, models.good)
    both = httpx.get(f"{monitoring}/monitoring_api/challenger", headers=headers,
                     params={"service": service, "current_rows": 10, "current_hours": 2})
    assert both.status_code == 400 and "current_rows, or current_hours" in both.json()["detail"]
    bad = httpx.get(f"{monitoring}/monitoring_api/challenger", headers=headers,
                    params={"service": service, "current_rows": 0})
    assert bad.status_code == 422 and "current_rows" in bad.json()["detail"]
    empty = httpx.get(f"{monitoring}/monitoring_api/challenger", params={"service": service}, headers=headers).json()
    assert empty["verdict"] == "not_significant" and empty["challenger"]["rows"] == 0
    assert empty["reason"].startswith("no verdict yet") and empty["rows_needed"] is None


def test_the_schedule_keeps_a_series_and_promotes_a_better_challenger_once(monitored: Monitored,
                                                                          models: Models) -> None:
    stack = monitored.stack
    policy = ChallengerPolicy(auto_promote=True, old_champion=OldChampion.challenger)
    service = create_service(monitored, models, SHADOW, models.mean, models.good, enabled=True, policy=policy)
    before: Service = asyncio.run(_get(stack, service))
    history_url = f"{stack.monitoring_url}/monitoring_api/challenger/history"

    def points() -> list[dict]:
        answer = httpx.get(history_url, params={"service": service}, headers=monitored.headers, timeout=30)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["points"])

    try:
        write_rows(monitored, models, service, SHADOW, models.mean, models.good)
        promoted = wait_for(lambda: [p for p in points() if p["promoted"]], 90,
                            f"a scheduled comparison of {service} that promotes its challenger",
                            details=lambda: stack.log_tail("monitoring_api"))
        point = promoted[0]
        assert point["verdict"] == "challenger_better" and point["challenger"]["model"] == models.good.model_dump()
        assert point["champion"]["labelled_rows"] == ROWS and point["id"] > 0
        after = asyncio.run(_get(stack, service))
        assert after.algorithm == models.good and after.challenger == models.mean and after.challenger_mode is SHADOW
        changes = [c for c in asyncio.run(_history(stack, service)) if c.kind == "challenger_promoted"]
        assert len(changes) == 1 and changes[0].by == "monitoring_api" and changes[0].reason == point["reason"]

        # Later points judge the new assignment: the rows were predicted in the old roles, so none count.
        later = wait_for(lambda: [p for p in points() if p["id"] > point["id"]], 60,
                         f"a scheduled comparison of {service} after its promotion",
                         details=lambda: stack.log_tail("monitoring_api"))
        assert later[0]["champion"]["model"] == models.good.model_dump() and later[0]["champion"]["rows"] == 0
        assert later[0]["verdict"] == "not_significant" and not later[0]["promoted"]

        # A comparison of the service as it was before the promotion still finds the old challenger better,
        # but queue_manager refuses to promote a challenger that is no longer the challenger.
        stale = asyncio.run(_stale_check(stack, before))
        assert stale.verdict is ChallengerVerdict.challenger_better and stale.promoted is False
        changes = [c for c in asyncio.run(_history(stack, service)) if c.kind == "challenger_promoted"]
        assert len(changes) == 1, "one verdict, one promotion"
        assert all(not p["promoted"] for p in points() if p["id"] != point["id"])
    finally:  # the package's schedule has no more to do with it
        asyncio.run(_disable(stack, service))


async def _get(stack: Stack, name: str) -> Service:
    async with QueueManagerClient(stack.qm_url, stack.config.api_token) as qm:
        return await qm.get_service(name)


async def _history(stack: Stack, name: str) -> list[ServiceChange]:
    async with QueueManagerClient(stack.qm_url, stack.config.api_token) as qm:
        return await qm.service_history(name)


async def _disable(stack: Stack, name: str) -> None:
    async with QueueManagerClient(stack.qm_url, stack.config.api_token) as qm:
        await qm.update_service(name, ServiceUpdate(enabled=False))


async def _stale_check(stack: Stack, service: Service) -> ChallengerPoint:
    settings = dataclasses.replace(Settings(), queue_manager_url=stack.qm_url, ml_data_api_url=stack.ml_url,
                                   api_token=stack.config.api_token, database_url=stack.database_url)
    db = Database(settings.database_url, 2)
    try:
        async with PeerClients.open(settings) as peers:
            return await ChallengerMonitor(settings, ChallengerStore(db), peers).check(service)
    finally:
        db.close()
