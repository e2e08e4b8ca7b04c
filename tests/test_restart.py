"""Everything survives a restart of the services and of the stores.

One populated stack serves both tests (starting and filling one costs about as much as either restart):
PostgreSQL is restarted under it, then the whole stack is stopped and started again on the same stores.
The PostgreSQL restarted is a cluster of this module's own (initdb in a temporary directory, on a free port),
never the machine's: other tests, run at the same time, keep their connections.
"""

from __future__ import annotations

import asyncio
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.datasets import DatasetSchema, Feature, FeatureType, Task
from conveyor.schemas.services import ServiceCreate
from conveyor_tools import devstack
from conveyor_tools.benchmarks.private_services import POSTGRES_BIN, PrivatePostgres, temp_base
from conveyor_tools.stack import Stack, StackConfig
from tests.support import wait_for

SCHEMA = DatasetSchema(
    name="restart_ds", task=Task.regression,
    features=[Feature(name="a"), Feature(name="b", type=FeatureType.int)], target="y",
)


def _config(tmp_path: Path, database: str) -> StackConfig:
    return StackConfig(
        state_dir=tmp_path, qm_port=devstack.free_port(), ml_port=devstack.free_port(),
        mongo_port=devstack.free_port(), database=database, api_token="restart-token",
        # What is checked lives in queue_manager and ml_data_api.
        monitoring=False, retraining=False,
    )


async def _populate(stack: Stack) -> bytes:
    # A fitted model for the dataset's columns: an upload is loaded and made to predict before it is stored.
    model = pickle.dumps(LinearRegression().fit(pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [1, 0, 2]}), [0.0, 1.0, 3.0]))
    token = stack.config.api_token
    async with QueueManagerClient(stack.qm_url, token) as qm, MLDataClient(stack.ml_url, token) as ml:
        await qm.create_dataset(SCHEMA)
        await qm.upload_algorithm(name="restart_model", dataset=SCHEMA.name, model=model)
        await qm.create_service(ServiceCreate(
            name="restart_service", dataset=SCHEMA.name, queue="restart_q",
            algorithm=AlgorithmRef(name="restart_model", version=1),
        ))
        rows = [{"date_time": f"2020-0{m}-01T00:00:00+00:00", "a": 1.5 * m, "b": m, "y": 2.0 * m}
                for m in range(1, 10)]
        await ml.insert_rows(SCHEMA.name, "training", rows)
        production = [{**r, "record_id": f"r{i}", "prediction": 1.0} for i, r in enumerate(rows)]
        await ml.insert_rows(SCHEMA.name, "production", production)
        await ml.post_labels(SCHEMA.name, [{"record_id": "r1", "label": 3.0}])
    return model


async def _check(stack: Stack, model: bytes) -> None:
    token = stack.config.api_token
    async with QueueManagerClient(stack.qm_url, token) as qm, MLDataClient(stack.ml_url, token) as ml:
        assert (await qm.get_dataset(SCHEMA.name)).feature_names == ["a", "b"]
        assert await qm.download_algorithm("restart_model", 1) == model
        service = await qm.get_service("restart_service")
        assert service.algorithm is not None and service.algorithm.version == 1
        counts = await ml.counts(SCHEMA.name)
        assert (counts.training, counts.production, counts.labeled) == (9, 9, 1)


@dataclass
class Populated:
    tmp_path: Path
    database: str
    model: bytes
    stack: Stack
    postgres: PrivatePostgres


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Populated]:
    """A running stack with a dataset, a model, a service, rows and a label; its stores are kept on stop. Its
    PostgreSQL is a private cluster, reached through POSTGRES_ADMIN_URL as everything here reads it."""
    if not (POSTGRES_BIN / "initdb").exists():
        pytest.skip(f"needs PostgreSQL's initdb in {POSTGRES_BIN} (POSTGRES_BIN_DIR)")
    postgres = PrivatePostgres(temp_base("restart-postgres"))
    saved = os.environ.get("POSTGRES_ADMIN_URL")
    try:
        postgres.start()
        os.environ["POSTGRES_ADMIN_URL"] = postgres.admin_url
        tmp_path, database = tmp_path_factory.mktemp("restart"), devstack.create_database()
        stack = Stack(_config(tmp_path, database))
        with stack:
            yield Populated(tmp_path, database, asyncio.run(_populate(stack)), stack, postgres)
    finally:
        if saved is None:
            os.environ.pop("POSTGRES_ADMIN_URL", None)
        else:
            os.environ["POSTGRES_ADMIN_URL"] = saved
        postgres.stop()  # the cluster, and the test's database with it


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_postgresql_restart_under_a_running_ml_data_api(populated: Populated) -> None:
    stack = populated.stack
    populated.postgres.restart()
    devstack.wait_for_port("127.0.0.1", populated.postgres.port, timeout=60)
    wait_for(lambda: _ready(stack.ml_url), 60, "ml_data_api ready again after the PostgreSQL restart",
             interval=0.5, details=lambda: stack.log_tail("ml_data_api"))
    asyncio.run(_check(stack, populated.model))


def test_services_and_secantus_restart_keep_everything(populated: Populated) -> None:
    # Everything stopped, the MongoDB-compatible store included; start it all again on the same stores.
    populated.stack.stop()
    with Stack(_config(populated.tmp_path, populated.database)) as stack:
        asyncio.run(_check(stack, populated.model))
