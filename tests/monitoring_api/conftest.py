"""A stack with monitoring_api (checks every few seconds), one monitored dataset, and services fed through it.

One stack, one dataset with its model and one feed of each kind for the whole package: every
module reads them, none changes them. The services share the dataset (and so its reference rows
and their drift calibration, computed once) and its model (one reference error, one estimator);
each has production rows of its own.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx
import pandas as pd
import pytest
from fastapi import FastAPI, Request
from sklearn.linear_model import LinearRegression

from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.records import to_records
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ServiceCreate
from conveyor.training import dump_model
from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_FEATURES, demo_splits, demo_stream
from conveyor_tools.stack import Stack, StackConfig
from data_source.publisher import PublishOptions, publish_rows
from data_source.records import DriftSpec, MessageFactory
from tests.support import register_dataset, serve, wait_for

DRIFTED = ("T_data_1_1", "T_data_3_1")
WINDOW_ROWS = 500  # MONITORING_CHECK_WINDOW_ROWS of the stack (the default): 3,200 training rows calibrate it
EVENTS_EXCHANGE = "conveyor.events"


@pytest.fixture(scope="package")
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A real HTTP endpoint that keeps what alerts post to it."""

    received: list[dict] = []
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> dict:
        received.append(await request.json())
        return {}

    with serve(app) as url:
        yield f"{url}/hook", received


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory, webhook: tuple[str, list[dict]]) -> Iterator[Stack]:
    config = StackConfig.throwaway()
    config.state_dir = tmp_path_factory.mktemp("stack")
    config.retraining = False  # no service here has a retraining policy
    config.extra_env = {"CHECK_INTERVAL_SECONDS": "3", "CHECK_WINDOW_ROWS": str(WINDOW_ROWS),
                        "ALERT_WEBHOOK_URL": webhook[0]}
    with Stack(config) as s:
        yield s


@dataclass
class Monitored:
    """The package's dataset (demo rows: 3,200 training, 800 testing) and its model, version 1."""

    stack: Stack
    dataset: str
    model_name: str
    model: LinearRegression

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.config.api_token}"}

    @property
    def read_headers(self) -> dict[str, str]:
        """The read token: what every GET needs, and all it needs."""
        return {"Authorization": f"Bearer {self.stack.config.api_read_token}"}

    def add_service(self, name: str, enabled: bool = True) -> None:
        async def create() -> None:
            async with QueueManagerClient(self.stack.qm_url, self.stack.config.api_token) as qm:
                await qm.create_service(ServiceCreate(
                    name=name, dataset=self.dataset, queue=name, enabled=enabled,
                    algorithm=AlgorithmRef(name=self.model_name, version=1)))

        asyncio.run(create())

    def production_rows(self, service: str) -> int:
        url = f"{self.stack.ml_url}/ml_data_api/datasets/{self.dataset}/production/rows"
        return int(httpx.get(url, params={"service": service, "limit": 1}, headers=self.read_headers).json()["total"])


@pytest.fixture(scope="package")
def monitored(stack: Stack) -> Monitored:
    suffix = uuid.uuid4().hex[:6]
    schema = DEMO_DATASET.model_copy(update={"name": f"mon_{suffix}"})
    training, testing = demo_splits(rows=4000, seed=5)
    model = LinearRegression().fit(training[DEMO_FEATURES], training["quality"])
    name = f"mon_model_{suffix}"

    async def prepare() -> None:
        async with QueueManagerClient(stack.qm_url, stack.config.api_token) as qm, \
                MLDataClient(stack.ml_url, stack.config.api_token) as ml:
            await register_dataset(qm, ml, schema, training=training, testing=testing)
            # No metrics recorded: monitoring_api computes the reference error once on the testing split.
            await qm.upload_algorithm(name=name, dataset=schema.name, model=dump_model(model))

    asyncio.run(prepare())
    return Monitored(stack, schema.name, name, model)


class EventQueue:
    """A queue of the test's own bound to the events exchange: what was published since it was made."""

    def __init__(self, routing_key: str, amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/") -> None:
        self.amqp_url = amqp_url
        self.name = f"test.monitoring.{uuid.uuid4().hex[:8]}"

        async def declare() -> None:
            async with await aio_pika.connect_robust(amqp_url) as connection:
                channel = await connection.channel()
                exchange = await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
                queue = await channel.declare_queue(self.name, arguments={"x-expires": 600_000})
                await queue.bind(exchange, routing_key=routing_key)

        asyncio.run(declare())

    def drain(self) -> list[dict]:
        async def messages() -> list[dict]:
            found = []
            async with await aio_pika.connect_robust(self.amqp_url) as connection:
                queue = await (await connection.channel()).declare_queue(self.name, passive=True)
                while (message := await queue.get(fail=False, no_ack=True)) is not None:
                    found.append(json.loads(message.body))
            return found

        return asyncio.run(messages())


@dataclass
class Fed:
    monitored: Monitored
    service: str
    stream: pd.DataFrame  # the records streamed, with their true labels
    run_id: str
    events: EventQueue  # bound to service.<service>.# before the first record was sent

    @property
    def stack(self) -> Stack:
        return self.monitored.stack

    @property
    def dataset(self) -> str:
        return self.monitored.dataset

    @property
    def headers(self) -> dict[str, str]:
        return self.monitored.headers

    @property
    def read_headers(self) -> dict[str, str]:
        return self.monitored.read_headers

    def report(self, kind: str, **params: str | int) -> httpx.Response:
        return httpx.get(f"{self.stack.monitoring_url}/monitoring_api/{kind}",
                         params={"dataset": self.dataset, "service": self.service, **params},
                         headers=self.read_headers, timeout=120)


def feed(monitored: Monitored, drift: bool, seed: int, rows: int = 1500) -> Fed:
    """A service of the package's dataset and a worker; `rows` records streamed through them."""
    stack = monitored.stack
    service = f"mon_svc_{uuid.uuid4().hex[:6]}"
    # Hourly readings are autocorrelated, so a window's mean wanders; the calibrated thresholds allow for it.
    stream = demo_stream(rows, seed=seed, after_rows=4000)
    events = EventQueue(f"service.{service}.#")
    monitored.add_service(service)
    stack.start_python("worker", name=f"worker-{service}", env={
        "SERVICE_NAME": service, "MODEL_CACHE_DIR": str(stack.config.state_dir / "models")})
    specs = [DriftSpec(DRIFTED, shift=80.0, from_row=0)] if drift else []
    run_id = f"run{service}"
    factory = MessageFactory(frame=stream, features=DEMO_FEATURES, run_id=run_id, drift=specs)
    asyncio.run(publish_rows(PublishOptions(service, rows=rows), factory))
    wait_for(lambda: monitored.production_rows(service) >= rows, 120,
             f"all {rows} records of {service} stored as production rows", interval=0.5,
             details=lambda: stack.log_tail(f"worker-{service}"))
    return Fed(monitored, service, stream, run_id, events)


@pytest.fixture(scope="package")
def drifted(monitored: Monitored) -> Fed:
    return feed(monitored, drift=True, seed=6)


@pytest.fixture(scope="package")
def steady(monitored: Monitored) -> Fed:
    return feed(monitored, drift=False, seed=5)


@dataclass
class Inserted:
    """A disabled service (checked on demand only, never by the schedule) whose production rows are written
    straight to ml_data_api, a batch at a time: its checks see exactly the windows a test makes."""

    monitored: Monitored
    service: str
    at: datetime = field(default_factory=lambda: datetime(2030, 1, 1, tzinfo=UTC))
    rows: int = 0

    def add(self, frame: pd.DataFrame, error_factor: float | None = 1.0, model_version: int = 1) -> None:
        """`frame`'s rows with the model's predictions; labels whose error is `error_factor` times the true one
        (None: no labels); `model_version`: the version the rows say predicted them."""
        stack = self.monitored.stack
        predictions = self.monitored.model.predict(frame[DEMO_FEATURES])
        times = [self.at + timedelta(minutes=i) for i in range(len(frame))]
        ids = [f"{self.service}-{self.rows + i}" for i in range(len(frame))]
        rows = frame[DEMO_FEATURES].assign(
            date_time=times, record_id=ids, prediction=predictions, model_name=self.monitored.model_name,
            model_version=model_version, service=self.service)
        base = f"{stack.ml_url}/ml_data_api/datasets/{self.monitored.dataset}"
        answer = httpx.post(f"{base}/production/rows", json={"rows": to_records(rows)},
                            headers=self.monitored.headers, timeout=60)
        assert answer.status_code in (200, 201), answer.text
        if error_factor is not None:
            labels = predictions - (predictions - frame["quality"].to_numpy()) * error_factor
            answer = httpx.post(f"{base}/labels", json={"labels": [
                {"record_id": i, "label": float(v)} for i, v in zip(ids, labels, strict=True)]},
                headers=self.monitored.headers, timeout=60)
            assert answer.status_code == 200, answer.text
        self.at = times[-1] + timedelta(minutes=1)
        self.rows += len(frame)

    def check(self) -> dict[str, Any]:
        answer = httpx.post(f"{self.monitored.stack.monitoring_url}/monitoring_api/checks/run",
                            params={"service": self.service}, headers=self.monitored.headers, timeout=120)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


@pytest.fixture
def inserted(monitored: Monitored) -> Inserted:
    service = f"mon_ins_{uuid.uuid4().hex[:6]}"
    monitored.add_service(service, enabled=False)
    return Inserted(monitored, service)
