"""A throwaway stack for the worker tests, and helpers to drive a service end to end."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import aio_pika
import httpx
import joblib
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conveyor.amqp import dead_letter_exchange_name, dead_letter_queue_name
from conveyor_tools import devstack
from conveyor_tools.stack import Component, Stack, StackConfig
from tests.worker.bad_models import store_model_directly

FEATURES = ["a", "b", "c"]
T = TypeVar("T")


def unfitted_model_bytes() -> bytes:
    """Loads, has .predict, and raises NotFittedError on every call: a challenger that fails to predict."""
    buffer = io.BytesIO()
    joblib.dump(LinearRegression(), buffer)
    return buffer.getvalue()


def model_bytes(offset: float = 0.0) -> bytes:
    """y = a + 2b - c (+ offset): easy to check a prediction by hand."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = x[:, 0] + 2 * x[:, 1] - x[:, 2] + offset
    import pandas as pd

    model = make_pipeline(StandardScaler(), LinearRegression()).fit(pd.DataFrame(x, columns=FEATURES), y)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    # One stack for the package's modules: each test makes its own dataset, service and queue.
    with Stack(StackConfig.throwaway()) as s:
        yield s


@dataclass
class Service:
    stack: Stack
    name: str
    dataset: str
    queue: str
    workers: list[Component]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.config.api_token}"}

    @property
    def read_headers(self) -> dict[str, str]:
        """What a tool that only reads sends (the write token would pass too)."""
        return {"Authorization": f"Bearer {self.stack.config.api_read_token}"}

    def start_worker(self, name: str, **env: str) -> Component:
        component = self.stack.start_python("worker", name=f"{self.name}-{name}", env={
            "SERVICE_NAME": self.name, "WORKER_ID": name, "WORKER_METRICS_PORT": "0",
            "MODEL_CACHE_DIR": str(self.stack.config.state_dir / "models"), "VERSION_CHECK_SECONDS": "2",
            "RETRY_MAX_SECONDS": "1", **env,
        })
        self.workers.append(component)
        return component

    def upload(self, offset: float = 0.0, content: bytes | None = None) -> int:
        response = httpx.post(
            f"{self.stack.qm_url}/queue_manager/algorithms", headers=self.headers,
            data={"name": f"{self.name}_model", "dataset": self.dataset, "framework": "scikit-learn"},
            files={"file": ("model.joblib", model_bytes(offset) if content is None else content)},
            timeout=60,  # queue_manager loads and tries the model in a process of its own before it answers
        )
        response.raise_for_status()
        return int(response.json()["version"])

    def store_directly(self, content: bytes) -> int:
        """A version queue_manager's upload check would refuse (one that does not load or predict), put in its
        store the way an older or damaged one would be there: see bad_models.store_model_directly."""
        return store_model_directly(self.stack, f"{self.name}_model", self.dataset, content)

    def assign(self, version: int) -> None:
        httpx.patch(f"{self.stack.qm_url}/queue_manager/services/{self.name}", headers=self.headers,
                    json={"algorithm": {"name": f"{self.name}_model", "version": version}}).raise_for_status()

    def ref(self, version: int) -> dict:
        return {"name": f"{self.name}_model", "version": version}

    def patch(self, **body: object) -> dict:
        response = httpx.patch(f"{self.stack.qm_url}/queue_manager/services/{self.name}", headers=self.headers,
                               json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def get(self) -> dict:
        response = httpx.get(f"{self.stack.qm_url}/queue_manager/services/{self.name}", headers=self.read_headers)
        response.raise_for_status()
        return dict(response.json())

    def log(self, worker: Component) -> str:
        """The worker's whole log (log_tail keeps the last lines only)."""
        path = self.stack.logs / f"{worker.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def metric(self, worker: Component, sample: str) -> float:
        """One sample of the worker's /metrics, e.g. 'worker_challenger_failures_total{stage="load"}'."""
        port = re.search(r"metrics on :(\d+)", self.log(worker))
        assert port, self.log(worker)
        for line in httpx.get(f"http://127.0.0.1:{port.group(1)}/metrics").text.splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[-1])
        return 0.0

    def counts(self) -> dict[str, int]:
        return httpx.get(f"{self.stack.ml_url}/ml_data_api/datasets/{self.dataset}/counts",
                         headers=self.read_headers).json()

    def rows(self) -> list[dict]:
        out: list[dict] = []
        while True:
            page = httpx.get(f"{self.stack.ml_url}/ml_data_api/datasets/{self.dataset}/production/rows",
                             params={"limit": 10000, "offset": len(out)}, headers=self.read_headers).json()
            out += page["rows"]
            if len(out) >= page["total"]:
                return out

    def jobs(self, status: str | None = None) -> list[dict]:
        out: list[dict] = []
        params: dict[str, str | int] = {"service": self.name, "limit": 1000, **({"status": status} if status else {})}
        while True:
            page = httpx.get(f"{self.stack.qm_url}/queue_manager/jobs", params={**params, "offset": len(out)},
                             headers=self.read_headers).json()
            out += page["jobs"]
            if len(out) >= page["total"]:
                return out

    def job_total(self, status: str | None = None) -> int:
        """How many jobs, without fetching them (cheap enough to poll while thousands are written)."""
        params: dict[str, str | int] = {"service": self.name, "limit": 1, **({"status": status} if status else {})}
        return int(httpx.get(f"{self.stack.qm_url}/queue_manager/jobs", params=params,
                             headers=self.read_headers).json()["total"])

    def wait_for(self, condition: Callable[[], T], timeout: float = 60, what: str = "") -> T:
        """What `condition` answers once it is truthy; every worker must stay up meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if value := condition():
                return value
            for worker in self.workers:
                assert worker.proc.poll() is None or worker.proc.returncode in (0, -9), \
                    self.stack.log_tail(worker.name)
            time.sleep(0.2)
        logs = "\n".join(self.stack.log_tail(w.name, 15) for w in self.workers)
        raise AssertionError(f"timed out waiting for {what}; counts {self.counts()}\n{logs}")

    def stop_workers(self) -> None:
        for worker in self.workers:
            devstack.stop_process(worker.proc)


@pytest.fixture
def service(stack: Stack) -> Iterator[Service]:
    suffix = uuid.uuid4().hex[:8]
    svc = Service(stack, f"svc_{suffix}", f"ds_{suffix}", f"q_{suffix}", [])
    httpx.post(f"{stack.qm_url}/queue_manager/datasets", headers=svc.headers, json={
        "name": svc.dataset, "task": "regression", "features": [{"name": f} for f in FEATURES], "target": "y",
    }).raise_for_status()
    version = svc.upload()
    httpx.post(f"{stack.qm_url}/queue_manager/services", headers=svc.headers, json={
        "name": svc.name, "dataset": svc.dataset, "queue": svc.queue,
        "algorithm": {"name": f"{svc.name}_model", "version": version},
    }).raise_for_status()
    yield svc
    svc.stop_workers()
    asyncio.run(_delete_queues(stack, svc.queue))


async def _delete_queues(stack: Stack, queue: str) -> None:
    connection = await aio_pika.connect_robust(stack.env().get("AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672/")
    async with connection:
        channel = await connection.channel()
        for name in (queue, dead_letter_queue_name(queue)):
            await channel.queue_delete(name)
        await channel.exchange_delete(dead_letter_exchange_name(queue))


def named(i: int, prefix: str = "r") -> dict:
    return {"record_id": f"{prefix}-{i}", "timestamp": "2024-01-01T00:00:00+00:00",
            "features": {"a": float(i), "b": 1.0, "c": 0.5}}


async def publish(queue: str, bodies: Sequence[bytes | dict], message_ids: list[str | None] | None = None) -> None:
    connection = await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/")
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        from conveyor.amqp import declare_service_queue

        await declare_service_queue(channel, queue)
        for i, body in enumerate(bodies):
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            message_id = (message_ids[i] if message_ids else None) or (
                body.get("record_id") if isinstance(body, dict) else None)
            await channel.default_exchange.publish(
                aio_pika.Message(raw, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                 headers={"x-published-at": repr(time.time())}),
                routing_key=queue,
            )


async def publish_many(queue: str, bodies: Sequence[dict], chunk: int = 500) -> None:
    """Like `publish`, with the confirms of a chunk awaited together: thousands of records in a second or two."""
    connection = await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/")
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        from conveyor.amqp import declare_service_queue

        await declare_service_queue(channel, queue)
        for start in range(0, len(bodies), chunk):
            await asyncio.gather(*(
                channel.default_exchange.publish(
                    aio_pika.Message(json.dumps(body).encode(), message_id=str(body["record_id"]),
                                     delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=queue,
                )
                for body in bodies[start:start + chunk]
            ))


async def dead_letters(queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    connection = await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/")
    out = []
    async with connection:
        channel = await connection.channel()
        dead = await channel.declare_queue(dead_letter_queue_name(queue), durable=True,
                                           arguments={"x-queue-type": "quorum"})
        while (message := await dead.get(fail=False, no_ack=True)) is not None:
            out.append(message)
    return out
