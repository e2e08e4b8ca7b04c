"""One HTTP client per peer service per process: built by the composition root, reused, closed on shutdown.

monitoring_api, retraining_api and the retraining executor run in this process against a
real stack (queue_manager, ml_data_api, PostgreSQL, RabbitMQ); every `httpx.AsyncClient`
built meanwhile is counted, so a client built per request, per check or per run shows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from conveyor.clients import QueueManagerClient
from conveyor.clients.base import BaseClient
from conveyor.pg import Database
from conveyor.tables import StartupTables
from conveyor_tools import devstack
from conveyor_tools.demo_dataset import DEMO_DATASET
from conveyor_tools.stack import Stack
from tests.support import wait_for_async


@pytest.fixture(scope="module")
def stack(shared_stack: Stack) -> Stack:
    """The session's stack: its queue_manager and ml_data_api are the peers. The monitoring_api, retraining_api
    and executor measured here run in this process, each on what is its own (a database, a trigger queue)."""
    return shared_stack


@pytest.fixture(scope="module")
def dataset(stack: Stack) -> str:
    """A dataset queue_manager knows, with no rows: requests reach both peers and stop at a 4xx."""
    name = f"life_{uuid.uuid4().hex[:6]}"

    async def create() -> None:
        async with QueueManagerClient(stack.qm_url, stack.config.api_token) as qm:
            await qm.create_dataset(DEMO_DATASET.model_copy(update={"name": name}))

    asyncio.run(create())
    return name


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many clients of each kind were built from now on (the real classes, only counted)."""
    counts: Counter[str] = Counter()
    base_init, http_init = BaseClient.__init__, httpx.AsyncClient.__init__

    def counting_base(self: BaseClient, *args: Any, **kwargs: Any) -> None:
        counts[type(self).__name__] += 1
        base_init(self, *args, **kwargs)

    def counting_http(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
        counts["httpx.AsyncClient"] += 1
        http_init(self, *args, **kwargs)

    monkeypatch.setattr(BaseClient, "__init__", counting_base)
    monkeypatch.setattr(httpx.AsyncClient, "__init__", counting_http)
    return counts


@pytest.fixture
def stack_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    for key, value in stack.env().items():
        monkeypatch.setenv(key, value)
    return stack


def _headers(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.config.api_token}"}


def _read_headers(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.config.api_read_token}"}


def test_monitoring_api_reuses_its_clients_across_requests(stack_env: Stack, dataset: str, built: Counter[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECK_INTERVAL_SECONDS", "0")  # the stack's own monitoring_api runs the schedule
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    from monitoring_api.main import create_app
    from monitoring_api.settings import load_settings

    app = create_app(load_settings())
    with TestClient(app) as client:
        clients = (app.state.queue_manager, app.state.ml_data)
        for _ in range(2):
            # queue_manager knows the dataset; ml_data_api has no rows of it: both peers asked, then a 4xx.
            answer = client.get(f"/monitoring_api/data_drift?dataset={dataset}", headers=_read_headers(stack_env))
            assert answer.status_code in (404, 422), answer.text
            answer = client.post("/monitoring_api/checks/run?service=no_such_service", headers=_headers(stack_env))
            assert answer.status_code == 404, answer.text
        assert (app.state.queue_manager, app.state.ml_data) == clients
        assert app.state.monitor.peers.queue_manager is clients[0]
    # queue_manager, ml_data_api and the alert webhook: one client each for the process.
    assert built == {"QueueManagerClient": 1, "MLDataClient": 1, "httpx.AsyncClient": 3}, built
    assert all(c._http.is_closed for c in clients), "the clients are closed on shutdown"


def test_retraining_api_reuses_its_clients_across_requests(stack_env: Stack, dataset: str, built: Counter[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRAINING_WARM_PYCARET", "false")
    # Its own alert queue: this app must not take the alerts of another retraining_api.
    monkeypatch.setenv("RETRAINING_TRIGGER_QUEUE", f"retraining_api.triggers.{uuid.uuid4().hex}")
    monkeypatch.setenv("RETRAINING_TRIGGER_QUEUE_EXPIRES_MS", "60000")
    from retraining_api.main import create_app
    from retraining_api.settings import load_settings

    app = create_app(load_settings())
    with TestClient(app) as client:
        clients = (app.state.queue_manager, app.state.ml_data)
        for _ in range(2):
            answer = client.get("/retraining_api/evaluate?model_name=no_such_model&evaluate_on=testing",
                                headers=_read_headers(stack_env))
            assert answer.status_code == 404, answer.text
            # Validation asks queue_manager for the dataset and ml_data_api for its rows: none, a 4xx.
            answer = client.post("/retraining_api/runs", headers=_headers(stack_env),
                                 json={"dataset": dataset, "algorithm": "m", "new_model": True})
            assert answer.status_code in (404, 422), answer.text
        assert (app.state.queue_manager, app.state.ml_data) == clients
        assert app.state.triggers.queue_manager is clients[0]
    assert built == {"QueueManagerClient": 1, "MLDataClient": 1, "httpx.AsyncClient": 2}, built
    assert all(c._http.is_closed for c in clients), "the clients are closed on shutdown"


def test_executor_reuses_its_clients_across_runs(stack_env: Stack, dataset: str, built: Counter[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs that end early, one at queue_manager and one at ml_data_api, through one executor."""
    from retraining_api.executor import serve
    from retraining_api.settings import load_settings
    from retraining_api.store import DDL, RunStore

    # A database of its own: the runs queued here are this executor's alone.
    name = devstack.create_database(f"conveyor_life_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("DATABASE_URL", devstack.database_url(name))
    db = Database(devstack.database_url(name), 1)
    try:
        StartupTables(db, "retraining_tables", DDL).create()
        store = RunStore(db)
        unknown = store.create_run("no_such_dataset", "m", {"dataset": "no_such_dataset", "algorithm": "m"})
        empty = store.create_run(dataset, "m", {"dataset": dataset, "algorithm": "m", "new_model": True})

        async def run_both() -> list[dict[str, Any]]:
            stopping = asyncio.Event()
            executor = asyncio.create_task(serve(load_settings(), stopping))

            async def both_failed() -> list[dict[str, Any]]:
                runs = [await asyncio.to_thread(store.get_run, r["id"]) for r in (unknown, empty)]
                done = [r for r in runs if r is not None and r["status"] == "failed"]
                return done if len(done) == 2 else []

            try:
                return await wait_for_async(both_failed, 60, "both runs ending failed")
            finally:
                stopping.set()
                await executor

        runs = asyncio.run(run_both())
    finally:
        db.close()
        devstack.drop_database(name)
    assert [r["status"] for r in runs] == ["failed", "failed"], f"the runs did not both end within 60 s: {runs}"
    assert "no_such_dataset" in runs[0]["error"], runs[0]["error"]
    assert dataset in runs[1]["error"] or "rows" in runs[1]["error"], runs[1]["error"]
    assert built == {"QueueManagerClient": 1, "MLDataClient": 1, "httpx.AsyncClient": 2}, built
