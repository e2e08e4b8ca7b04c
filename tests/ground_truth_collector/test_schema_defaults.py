"""The collector takes its dataset, label and time columns from queue_manager's schema; explicit options win."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.settings import PeerUrlsSettings, load
from ground_truth_collector.__main__ import parser, take_defaults_from_schema
from tests.queue_manager_server import queue_manager, register

SCHEMA = {"name": "gauges", "task": "regression", "features": [{"name": "s1"}], "target": "grade",
          "timestamp_column": "measured_at"}


@pytest.fixture
def qm_env(mongo_uri: str, api_token: str, amqp_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with queue_manager(mongo_uri, api_token, amqp_url) as url:
        register(url, api_token, SCHEMA, {"name": "gauge_service", "dataset": "gauges", "queue": "gauge_queue"})
        env = {"QUEUE_MANAGER_URL": url, "API_TOKEN": api_token}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield env


def defaults(*args: str) -> argparse.Namespace:
    parsed = parser().parse_args(["--file", "labels.csv", *args])
    asyncio.run(take_defaults_from_schema(parsed, load(PeerUrlsSettings), asyncio.Event()))
    return parsed


def test_a_service_names_its_dataset_and_the_schema_names_the_columns(qm_env: dict[str, str]) -> None:
    args = defaults("--service", "gauge_service")
    assert (args.dataset, args.label_column, args.timestamp_column) == ("gauges", "grade", "measured_at")


def test_explicit_options_win(qm_env: dict[str, str]) -> None:
    args = defaults("--dataset", "gauges", "--label-column", "true_grade")
    assert (args.dataset, args.label_column, args.timestamp_column) == ("gauges", "true_grade", "measured_at")


def test_unknown_or_mismatched_names_are_refused_with_a_reason(qm_env: dict[str, str], tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("grade\n1\n")

    def collector(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ground_truth_collector", "--file", str(labels), "--once", *args],
                              capture_output=True, text=True, timeout=60, env={**os.environ, **qm_env})

    unknown = collector("--service", "nope")
    assert unknown.returncode == 2 and "nope" in unknown.stderr and qm_env["QUEUE_MANAGER_URL"] in unknown.stderr
    other = collector("--service", "gauge_service", "--dataset", "other")
    assert other.returncode == 2 and "serves dataset 'gauges'" in other.stderr
    neither = collector()
    assert neither.returncode == 2 and "--dataset or --service" in neither.stderr
