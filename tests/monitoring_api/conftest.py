"""A stack with monitoring_api (checks every few seconds), and services fed through the real pipeline.

One stack and one feed of each kind for the whole package: every module reads them, none
changes them, and starting a stack and streaming 1500 records costs most of a minute.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI, Request
from sklearn.linear_model import LinearRegression

from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ServiceCreate
from conveyor.training import dump_model
from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_FEATURES, demo_splits, demo_stream
from conveyor_tools.stack import Stack, StackConfig
from data_source.publisher import PublishOptions, publish_rows
from data_source.records import DriftSpec, MessageFactory
from tests.support import register_dataset, serve, wait_for

DRIFTED = ("T_data_1_1", "T_data_3_1")


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
    config.extra_env = {"CHECK_INTERVAL_SECONDS": "3", "CHECK_WINDOW_ROWS": "1500", "DRIFT_SHARE_THRESHOLD": "0.15",
                        "ALERT_WEBHOOK_URL": webhook[0]}
    with Stack(config) as s:
        yield s


@dataclass
class Fed:
    stack: Stack
    dataset: str
    service: str
    stream: pd.DataFrame  # the records streamed, with their true labels
    run_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.config.api_token}"}

    def report(self, kind: str, **params: str | int) -> httpx.Response:
        return httpx.get(f"{self.stack.monitoring_url}/monitoring_api/{kind}",
                         params={"dataset": self.dataset, "service": self.service, **params}, timeout=120)


def feed(stack: Stack, drift: bool, seed: int, rows: int = 1500) -> Fed:
    """A dataset, a model, a service and a worker; `rows` records streamed through them."""
    suffix = uuid.uuid4().hex[:6]
    schema = DEMO_DATASET.model_copy(update={"name": f"mon_{suffix}"})
    service = f"mon_svc_{suffix}"
    token = stack.config.api_token
    training, testing = demo_splits(rows=4000, seed=5)
    # Hourly readings are autocorrelated, so a window's mean wanders; these fixed seeds give
    # undrifted windows that match the training sample (most seeds drift a little by themselves).
    stream = demo_stream(rows, seed=seed, after_rows=4000)

    async def prepare() -> None:
        async with QueueManagerClient(stack.qm_url, token) as qm, MLDataClient(stack.ml_url, token) as ml:
            await register_dataset(qm, ml, schema, training=training, testing=testing)
            model = LinearRegression().fit(training[DEMO_FEATURES], training["quality"])
            algorithm = await qm.upload_algorithm(name=f"{service}_m", dataset=schema.name, model=dump_model(model))
            await qm.create_service(ServiceCreate(name=service, dataset=schema.name, queue=service,
                                                  algorithm=AlgorithmRef(name=algorithm.name, version=1)))

    asyncio.run(prepare())
    stack.start_python("worker", name=f"worker-{service}", env={
        "SERVICE_NAME": service, "MODEL_CACHE_DIR": str(stack.config.state_dir / "models")})
    specs = [DriftSpec(DRIFTED, shift=80.0, from_row=0)] if drift else []
    run_id = f"run{suffix}"
    factory = MessageFactory(frame=stream, features=DEMO_FEATURES, run_id=run_id, drift=specs)
    asyncio.run(publish_rows(PublishOptions(service, rows=rows), factory))
    url = f"{stack.ml_url}/ml_data_api/datasets/{schema.name}/counts"
    wait_for(lambda: httpx.get(url).json()["production"] >= rows, 120, f"all {rows} records stored as production rows",
             interval=0.5, details=lambda: stack.log_tail(f"worker-{service}"))
    return Fed(stack, schema.name, service, stream, run_id)


@pytest.fixture(scope="package")
def drifted(stack: Stack) -> Fed:
    return feed(stack, drift=True, seed=6)


@pytest.fixture(scope="package")
def steady(stack: Stack) -> Fed:
    return feed(stack, drift=False, seed=5)
