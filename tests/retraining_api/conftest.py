"""A throwaway stack with retraining_api and its executor, and a dataset with a model to retrain."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sklearn.linear_model import LinearRegression

from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.schemas.algorithms import AlgorithmRef, Stage, StageUpdate
from conveyor.schemas.services import ServiceCreate
from conveyor.training import dump_model
from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_FEATURES, demo_splits, demo_stream
from conveyor_tools.stack import Stack, StackConfig
from tests.support import register_dataset

FAST_MODELS = ["lr", "dt"]


@pytest.fixture(scope="package")  # one stack for the package: each test seeds a dataset of its own
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig.throwaway()
    config.state_dir = tmp_path_factory.mktemp("stack")
    config.extra_env = {"RETRAINING_HEARTBEAT_SECONDS": "1", "RETRAINING_STALE_SECONDS": "6",
                        "RETRAINING_POLL_SECONDS": "0.3",
                        # test_triggers: the cooldown it tests, and labels counted without waiting long
                        "RETRAINING_TRIGGER_COOLDOWN_SECONDS": "6", "RETRAINING_LABEL_POLL_SECONDS": "0.5"}
    with Stack(config) as s:
        yield s


@dataclass
class Seeded:
    stack: Stack
    dataset: str
    model: str
    service: str
    training: Any
    testing: Any
    production: Any  # labelled production rows, with record_id and the label

    @property
    def url(self) -> str:
        return f"{self.stack.retraining_url}/retraining_api"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.config.api_token}"}

    @property
    def read_headers(self) -> dict[str, str]:
        """The read token: what every GET needs, and all it needs."""
        return {"Authorization": f"Bearer {self.stack.config.api_read_token}"}

    def start_run(self, **body: Any) -> httpx.Response:
        payload = {"dataset": self.dataset, "algorithm": self.model, "include": FAST_MODELS, **body}
        return httpx.post(f"{self.url}/runs", json=payload, headers=self.headers, timeout=120)

    def run(self, run_id: int) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/runs/{run_id}", timeout=30, headers=self.read_headers)
        response.raise_for_status()
        return response.json()

    def wait_run(self, run_id: int, statuses: tuple[str, ...] = ("finished", "failed"),
                 timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if run["status"] in statuses:
                return run
            for component in self.stack.failed():
                raise AssertionError(f"{component.name} died:\n{self.stack.log_tail(component.name)}")
            time.sleep(0.3)
        raise AssertionError(f"run {run_id} not {statuses} after {timeout}s: {run}\n"
                             f"{self.stack.log_tail('retraining_executor')}")

    def qm(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.stack.qm_url}/queue_manager/{path}", params=params, timeout=30,
                             headers=self.read_headers)
        response.raise_for_status()
        return response.json()

    def assert_stages(self, stages: dict[int, str], service_version: int) -> None:
        """Each version's stage in queue_manager, and the version the service runs."""
        for version, stage in stages.items():
            assert self.qm(f"algorithms/{self.model}/{version}")["stage"] == stage, (version, stage)
        assert self.qm(f"services/{self.service}")["algorithm"] == {"name": self.model, "version": service_version}


def seed(stack: Stack, production_rows: int = 300) -> Seeded:
    """A demo dataset with training, testing and labelled production rows; model v1 in production."""
    suffix = uuid.uuid4().hex[:6]
    schema = DEMO_DATASET.model_copy(update={"name": f"rt_{suffix}"})
    model_name, service = f"rt_model_{suffix}", f"rt_svc_{suffix}"
    training, testing = demo_splits(rows=2500, seed=3)
    stream = demo_stream(max(production_rows, 1), seed=4, after_rows=2500).iloc[:production_rows]
    production = stream.assign(record_id=[f"p{suffix}-{i}" for i in range(len(stream))])
    token = stack.config.api_token

    async def prepare() -> None:
        async with QueueManagerClient(stack.qm_url, token) as qm, MLDataClient(stack.ml_url, token) as ml:
            await register_dataset(qm, ml, schema, training=training, testing=testing)
            model = LinearRegression().fit(training[DEMO_FEATURES], training["quality"])
            await qm.upload_algorithm(name=model_name, dataset=schema.name, model=dump_model(model),
                                      metrics={"Model": "LinearRegression"})
            await qm.set_stage(model_name, 1, StageUpdate(stage=Stage.production))
            await qm.create_service(ServiceCreate(name=service, dataset=schema.name, queue=service,
                                                  algorithm=AlgorithmRef(name=model_name, version=1)))
            if production_rows:
                rows = [{"record_id": r["record_id"], **{f: r[f] for f in DEMO_FEATURES}, "prediction": 0.0,
                         "model_name": model_name, "model_version": 1, "service": service}
                        for r in production.to_dict("records")]
                await ml.insert_rows(schema.name, "production", rows)
                await ml.post_labels(schema.name, [{"record_id": r["record_id"], "label": r["quality"]}
                                                   for r in production.to_dict("records")])

    asyncio.run(prepare())
    return Seeded(stack, schema.name, model_name, service, training, testing, production)


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> Seeded:
    return seed(stack)
