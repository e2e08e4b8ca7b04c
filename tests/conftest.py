"""Fixtures that start what a test needs on real services.

- a secantusdb server process on a free port (one per session, a fresh database per test)
- a fresh PostgreSQL database per session, dropped after
- unique RabbitMQ names per test
- one `conveyor demo` for the tests that drive it (browser tests, test_demo.py)
- one throwaway stack for the tests that only add what they name uniquely (`shared_stack`)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from conveyor_tools import devstack
from conveyor_tools.stack import Stack, StackConfig
from tests.running_demo import RunningDemo
from tests.worker.broker_cut import BrokerCut

API_TOKEN = "test-token"
READ_TOKEN = "test-read-token"
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
SHARED_SAMPLE_CAP = 1000  # rows at most per monitoring window on the shared stack (larger windows are sampled)


@pytest.fixture(scope="session")
def api_token() -> str:
    return API_TOKEN


@pytest.fixture(scope="session")
def read_token() -> str:
    return READ_TOKEN


@pytest.fixture(scope="session")
def amqp_url() -> str:
    return AMQP_URL


@pytest.fixture(scope="session")
def secantus_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = devstack.free_port()
    storage = tmp_path_factory.mktemp("secantus")
    proc = devstack.start_secantus(port, storage, log_file=storage.parent / "secantus.log")
    yield port
    devstack.stop_process(proc)


@pytest.fixture
def mongo_uri(secantus_port: int) -> str:
    """A database of its own for each test, on the session's server."""
    return devstack.mongo_uri(secantus_port, f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = devstack.create_database()
    yield devstack.database_url(name)
    devstack.drop_database(name)


@pytest.fixture
def unique_name() -> str:
    """A name no other test uses: for queues, services, datasets."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def running_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    """One `conveyor demo` for the session (its first start trains a model): see tests/running_demo.py."""
    demo = RunningDemo(tmp_path_factory.mktemp("demo"))
    try:
        demo.ensure_running()
        yield demo
    finally:
        demo.close()


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A whole throwaway stack (retraining included) started once, for tests that name their datasets, models,
    services and queues uniquely and need no setting of their own: each stack start is ~6 s of the suite.

    No scheduled checks run on it (a test asks for what it measures); monitoring_api samples windows to
    SHARED_SAMPLE_CAP rows. Components a test starts on it (workers) are stopped and removed by that test.
    """
    config = StackConfig.throwaway()
    config.state_dir = tmp_path_factory.mktemp("shared_stack")
    config.extra_env = {"CHECK_INTERVAL_SECONDS": "0", "MONITORING_SAMPLE_CAP": str(SHARED_SAMPLE_CAP)}
    with Stack(config) as s:
        yield s


@pytest.fixture
def cut() -> Iterator[BrokerCut]:
    """A relay in front of the machine's broker (tests/worker/broker_cut.py), which a test cuts and reopens."""
    relay = BrokerCut()
    try:
        yield relay
    finally:
        relay.close()
