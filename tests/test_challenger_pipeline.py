"""Champion and challenger through the whole pipeline, promoted by monitoring on its own (issue 13).

A service in shadow mode: its champion predicts the mean (DummyRegressor), its challenger is a linear
model of the demo data, and its policy says auto_promote (the old champion kept as challenger). Records
go through RabbitMQ and a worker into ml_data_api; their labels are posted to ml_data_api. monitoring_api
compares the two every second on its schedule: not significant while no label is in, challenger_better
once they are, and it promotes the challenger itself. The worker swaps without a restart: the records
after the swap are served by the new champion (its name, version and predictions) with the old one in
the shadow columns. No record is lost or stored twice, and nothing promotes twice.

About 20 s on 2 cores, most of it the stack's start; marked slow, it still runs in the default suite.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import httpx
import pandas as pd
import pytest
from sklearn.base import RegressorMixin
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression

from conveyor.amqp import dead_letter_exchange_name, dead_letter_queue_name
from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ChallengerMode, ChallengerPolicy, OldChampion, ServiceCreate
from conveyor.training import dump_model
from conveyor_tools import devstack
from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_FEATURES, demo_splits, demo_stream
from conveyor_tools.stack import Component, Stack, StackConfig
from data_source.publisher import PublishOptions, publish_rows
from data_source.records import MessageFactory
from tests.support import wait_for

pytestmark = pytest.mark.slow

LABELLED = 300  # records before the promotion, all labelled: over the policy's 200 labelled rows
AFTER = 200  # records after the swap


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig.throwaway()
    config.state_dir = tmp_path_factory.mktemp("challenger")
    config.retraining = False
    config.extra_env = {"MONITORING_CHECK_INTERVAL_SECONDS": "1"}
    with Stack(config) as s:
        yield s


@dataclass
class Shadowed:
    stack: Stack
    dataset: str
    service: str
    mean: AlgorithmRef  # the champion at first
    linear: AlgorithmRef  # the challenger at first
    models: dict[str, RegressorMixin]  # by algorithm name
    stream: pd.DataFrame  # the records, with their record_id and true quality
    worker: Component | None = None
    published: int = 0

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.config.api_token}"}

    def get(self, url: str, **params: Any) -> Any:
        answer = httpx.get(url, params=params, headers=self.headers, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def publish(self, rows: int) -> list[str]:
        """The stream's next `rows` records, through the data source's publisher; their record_ids."""
        frame = self.stream.iloc[self.published:self.published + rows]
        self.published += rows
        factory = MessageFactory(frame=frame, features=DEMO_FEATURES, run_id=self.service,
                                 record_id_column="record_id")
        asyncio.run(publish_rows(PublishOptions(self.service, rows=rows), factory))
        return list(frame["record_id"])

    def rows(self) -> dict[str, dict[str, Any]]:
        url = f"{self.stack.ml_url}/ml_data_api/datasets/{self.dataset}/production/rows"
        page = self.get(url, service=self.service, limit=10_000)
        assert page["total"] == len(page["rows"]), "one page holds them all"
        return {r["record_id"]: r for r in page["rows"]}

    def jobs(self) -> dict[str, dict[str, Any]]:
        page = self.get(f"{self.stack.qm_url}/queue_manager/jobs", service=self.service, limit=1000)
        assert page["total"] == len(page["jobs"]), "one page holds them all"
        return {j["record_id"]: j for j in page["jobs"]}

    def finished(self) -> int:
        url = f"{self.stack.qm_url}/queue_manager/jobs"
        return int(self.get(url, service=self.service, status="finished", limit=1)["total"])

    def points(self) -> list[dict[str, Any]]:
        url = f"{self.stack.monitoring_url}/monitoring_api/challenger/history"
        return list(self.get(url, service=self.service)["points"])

    def service_now(self) -> dict[str, Any]:
        return dict(self.get(f"{self.stack.qm_url}/queue_manager/services/{self.service}"))

    def history(self) -> list[dict[str, Any]]:
        return list(self.get(f"{self.stack.qm_url}/queue_manager/services/{self.service}/history"))

    def logs(self) -> str:
        worker = self.worker.name if self.worker else ""
        return "\n".join(f"--- {name}\n{self.stack.log_tail(name, 25)}" for name in ("monitoring_api", worker))

    def stored(self, count: int) -> bool:
        assert self.worker is None or self.worker.proc.poll() is None, self.logs()
        return self.finished() >= count and len(self.rows()) >= count

    def predicted(self, name: str, record_ids: list[str]) -> list[float]:
        frame = self.stream.set_index("record_id").loc[record_ids, DEMO_FEATURES]
        return [float(v) for v in self.models[name].predict(frame)]


@pytest.fixture
def shadowed(stack: Stack) -> Iterator[Shadowed]:
    suffix = uuid.uuid4().hex[:6]
    dataset, service = f"chal_pipe_{suffix}", f"chal_pipe_svc_{suffix}"
    training, _ = demo_splits(rows=2000, seed=11)
    mean = DummyRegressor().fit(training[DEMO_FEATURES], training["quality"])
    linear = LinearRegression().fit(training[DEMO_FEATURES], training["quality"])
    stream = demo_stream(LABELLED + AFTER + 50, seed=12, after_rows=2000)
    stream["record_id"] = [f"{suffix}-{i}" for i in range(len(stream))]

    async def prepare() -> tuple[AlgorithmRef, AlgorithmRef]:
        async with QueueManagerClient(stack.qm_url, stack.config.api_token) as qm:
            await qm.create_dataset(DEMO_DATASET.model_copy(update={"name": dataset}))
            champion = await qm.upload_algorithm(name=f"{dataset}_mean", dataset=dataset, model=dump_model(mean))
            challenger = await qm.upload_algorithm(name=f"{dataset}_linear", dataset=dataset,
                                                   model=dump_model(linear))
            refs = (AlgorithmRef(name=champion.name, version=champion.version),
                    AlgorithmRef(name=challenger.name, version=challenger.version))
            await qm.create_service(ServiceCreate(
                name=service, dataset=dataset, queue=service, algorithm=refs[0], challenger=refs[1],
                challenger_mode=ChallengerMode.shadow,
                challenger_policy=ChallengerPolicy(auto_promote=True, old_champion=OldChampion.challenger)))
            return refs

    mean_ref, linear_ref = asyncio.run(prepare())
    shadowed = Shadowed(stack, dataset, service, mean_ref, linear_ref,
                        {mean_ref.name: mean, linear_ref.name: linear}, stream)
    yield shadowed
    if shadowed.worker is not None:
        devstack.stop_process(shadowed.worker.proc)
    asyncio.run(_delete_queues(service))


async def _delete_queues(queue: str) -> None:
    async with await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/") as connection:
        channel = await connection.channel()
        for name in (queue, dead_letter_queue_name(queue)):
            await channel.queue_delete(name)
        await channel.exchange_delete(dead_letter_exchange_name(queue))


def _post_labels(s: Shadowed, record_ids: list[str]) -> None:
    truth = s.stream.set_index("record_id")["quality"]

    async def post() -> None:
        async with MLDataClient(s.stack.ml_url, s.stack.config.api_token) as ml:
            result = await ml.post_labels(s.dataset, [{"record_id": i, "label": float(truth[i])} for i in record_ids])
            assert result.unknown == [], result

    asyncio.run(post())


def test_monitoring_promotes_a_better_shadow_challenger_and_the_worker_swaps(shadowed: Shadowed) -> None:
    s = shadowed
    s.worker = s.stack.start_python("worker", name=f"worker-{s.service}", env={
        "SERVICE_NAME": s.service, "WORKER_ID": "chal-worker", "WORKER_METRICS_PORT": "0",
        "MODEL_CACHE_DIR": str(s.stack.config.state_dir / "models")})
    before = s.publish(LABELLED)
    wait_for(lambda: s.stored(LABELLED), 60, f"{LABELLED} records stored with finished jobs", details=s.logs)
    rows = s.rows()
    assert {r["model_name"] for r in rows.values()} == {s.mean.name}
    assert {r["shadow_model_name"] for r in rows.values()} == {s.linear.name}
    assert [rows[i]["prediction"] for i in before] == pytest.approx(s.predicted(s.mean.name, before))
    assert [rows[i]["shadow_prediction"] for i in before] == pytest.approx(s.predicted(s.linear.name, before))

    # Without labels the schedule cannot decide; it says so and promotes nothing.
    unlabelled = wait_for(lambda: [p for p in s.points() if p["challenger"]["rows"] == LABELLED], 30,
                          "a scheduled comparison of the stored rows", details=s.logs)
    assert unlabelled[0]["verdict"] == "not_significant" and not unlabelled[0]["promoted"]
    assert unlabelled[0]["challenger"]["labelled_rows"] == 0

    _post_labels(s, before)
    promoted = wait_for(lambda: [p for p in s.points() if p["promoted"]], 30,
                        "a scheduled comparison that promotes the challenger", details=s.logs)[0]
    assert promoted["verdict"] == "challenger_better", promoted["reason"]
    assert promoted["challenger"]["model"] == s.linear.model_dump()
    assert promoted["challenger"]["labelled_rows"] == LABELLED and promoted["difference"]["low"] > 0
    service = s.service_now()
    assert service["algorithm"] == s.linear.model_dump() and service["challenger"] == s.mean.model_dump()
    assert service["challenger_mode"] == "shadow"
    changes = [c for c in s.history() if c["kind"] == "challenger_promoted"]
    assert len(changes) == 1 and changes[0]["by"] == "monitoring_api", changes
    assert changes[0]["reason"] == promoted["reason"][:2000]

    # The worker learns of it from the assignment event and swaps between batches: a record at a time until a
    # batch has been served by the new champion, then every record after it is.
    swapped = f"predicting with {s.linear.name} v{s.linear.version}"
    probes: list[str] = []

    def probe() -> bool:
        log = s.stack.logs / f"{s.worker.name if s.worker else ''}.log"
        if swapped in log.read_text(errors="replace"):
            return True
        probes.extend(s.publish(1))
        return False

    wait_for(probe, 30, "the worker serving the new champion", interval=0.3, details=s.logs)
    after = s.publish(AFTER)
    total = LABELLED + len(probes) + AFTER
    wait_for(lambda: s.stored(total), 60, f"{total} records stored with finished jobs", details=s.logs)

    rows, jobs = s.rows(), s.jobs()
    published = set(before) | set(probes) | set(after)
    assert set(rows) == published and len(rows) == total, "none lost, none stored twice"
    assert set(jobs) == published and {j["status"] for j in jobs.values()} == {"finished"}
    counts = s.get(f"{s.stack.ml_url}/ml_data_api/datasets/{s.dataset}/counts")
    assert counts["production"] == total
    for record_id in probes:  # served by one model or the other, whole
        assert rows[record_id]["model_name"] in (s.mean.name, s.linear.name)
    served = [rows[i] for i in after]
    assert {(r["model_name"], r["model_version"], r["model_role"]) for r in served} == {
        (s.linear.name, s.linear.version, "champion")}
    assert {(r["shadow_model_name"], r["shadow_model_version"]) for r in served} == {(s.mean.name, s.mean.version)}
    assert [r["prediction"] for r in served] == pytest.approx(s.predicted(s.linear.name, after))
    assert [r["shadow_prediction"] for r in served] == pytest.approx(s.predicted(s.mean.name, after))
    assert len({r["prediction"] for r in served}) > 1, "the mean no longer serves"
    assert {(jobs[i]["algorithm_name"], jobs[i]["algorithm_version"], jobs[i]["algorithm_role"]) for i in after} \
        == {(s.linear.name, s.linear.version, "champion")}
    assert [jobs[i]["result"] for i in after] == pytest.approx([r["prediction"] for r in served])

    # Later points judge the new pair; nothing is promoted again.
    last = promoted["id"]
    later = wait_for(lambda: [p for p in s.points() if p["id"] > last], 30, "a comparison after the promotion",
                     details=s.logs)
    assert later[-1]["champion"]["model"] == s.linear.model_dump() and not later[-1]["promoted"]
    assert len([c for c in s.history() if c["kind"] == "challenger_promoted"]) == 1
