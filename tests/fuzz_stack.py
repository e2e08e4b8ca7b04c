"""A live throwaway stack for the tests that walk every operation of every API (the fuzzing, the access matrix),
and what they share: where each API answers, its operations, and a few records for the requests to find.

Not a conftest: each module starts its own stack (`with running_stack() as stack:` in a module fixture), so a
test run that selects one of them starts one stack, and no fixture leaks into the other test packages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sklearn.linear_model import LinearRegression

from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ServiceCreate
from conveyor.training import dump_model
from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_FEATURES, demo_splits, demo_stream
from conveyor_tools.stack import Stack, StackConfig
from tests.support import register_dataset

# The four HTTP APIs: the name their routes start with, and the Stack attribute holding the base URL.
APIS = {"queue_manager": "qm_url", "ml_data_api": "ml_url", "monitoring_api": "monitoring_url",
        "retraining_api": "retraining_url"}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@contextmanager
def running_stack(extra_env: dict[str, str] | None = None, retraining: bool = True) -> Iterator[Stack]:
    config = StackConfig.throwaway()
    config.extra_env = dict(extra_env or {})
    config.retraining = retraining
    with Stack(config) as stack:
        yield stack


def api_url(stack: Stack, api: str) -> str:
    url: str = getattr(stack, APIS[api])
    return url


def openapi(stack: Stack, api: str) -> dict[str, Any]:
    response = httpx.get(f"{api_url(stack, api)}/openapi.json", timeout=30)
    response.raise_for_status()
    schema: dict[str, Any] = response.json()
    return schema


@dataclass(frozen=True)
class Operation:
    api: str
    method: str  # upper case
    path: str  # as the OpenAPI writes it, with {parameters}
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def operations(stack: Stack, api: str) -> list[Operation]:
    return [Operation(api, method.upper(), path, item[method])
            for path, item in openapi(stack, api)["paths"].items() for method in METHODS if method in item]


@dataclass(frozen=True)
class Seeded:
    dataset: str
    model: str
    service: str


def seed(stack: Stack, rows: int = 200) -> Seeded:
    """A dataset with training, testing and production rows, a model for it and a service running it: names the
    list operations return, which schemathesis then reuses in the operations that take a name (its
    resource pool), so that those reach past the 404 of an unknown name."""
    # Fixed names (the stack is new each time), so that the requests schemathesis builds from them are too.
    schema = DEMO_DATASET.model_copy(update={"name": "fz_dataset"})
    model_name, service = "fz_model", "fz_service"
    training, testing = demo_splits(rows=rows, seed=3)
    stream = demo_stream(rows, seed=4, after_rows=rows)
    token = stack.config.api_token

    async def prepare() -> None:
        async with QueueManagerClient(stack.qm_url, token) as qm, MLDataClient(stack.ml_url, token) as ml:
            await register_dataset(qm, ml, schema, training=training, testing=testing)
            model = LinearRegression().fit(training[DEMO_FEATURES], training["quality"])
            await qm.upload_algorithm(name=model_name, dataset=schema.name, model=dump_model(model))
            await qm.create_service(ServiceCreate(name=service, dataset=schema.name, queue=service,
                                                  algorithm=AlgorithmRef(name=model_name, version=1)))
            production = [{"record_id": f"fz-{i}", **{f: r[f] for f in DEMO_FEATURES}, "prediction": 0.0,
                           "model_name": model_name, "model_version": 1, "service": service}
                          for i, r in enumerate(stream.to_dict("records"))]
            await ml.insert_rows(schema.name, "production", production)

    asyncio.run(prepare())
    return Seeded(schema.name, model_name, service)
