"""`conveyor load` and `conveyor generate-data` against a live ml_data_api process.

The commands run in this process, as `conveyor` parses them (a second interpreter per command would spend a
second on imports each); ml_data_api is a process of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from conveyor_tools.benchmarks.ingest import own_ml_data_api
from conveyor_tools.cli.main import main
from conveyor_tools.demo_dataset import DEMO_DATASET


@pytest.fixture(scope="module")
def ml_api() -> Iterator[tuple[str, str]]:
    with own_ml_data_api() as (url, token):
        schema = DEMO_DATASET.model_dump(mode="json")
        httpx.put(f"{url}/ml_data_api/datasets/{DEMO_DATASET.name}", json=schema,
                  headers={"Authorization": f"Bearer {token}"}).raise_for_status()
        yield url, token


class Run(NamedTuple):
    returncode: int
    stdout: str


@pytest.fixture
def conveyor(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """`conveyor <args>`: its exit code and what it printed."""
    def run(*args: str) -> Run:
        capsys.readouterr()
        code = main(list(args))
        return Run(code, capsys.readouterr().out)

    return run


def test_generate_then_load(tmp_path: Path, ml_api: tuple[str, str], conveyor: Callable[..., Run]) -> None:
    url, token = ml_api
    csv = tmp_path / "rows.csv"
    made = conveyor("generate-data", "--rows", "1200", "--seed", "2", "--out", str(csv))
    assert made.returncode == 0 and "wrote 1200 rows" in made.stdout
    loaded = conveyor("load", "--dataset", "product_quality", "--split", "training", "--file", str(csv),
                      "--url", url, "--token", token, "--batch-size", "500")
    assert loaded.returncode == 0, loaded.stdout
    assert "loaded 1200 rows" in loaded.stdout and "T_data_4_1" in loaded.stdout  # dropped columns are named
    counts = httpx.get(f"{url}/ml_data_api/datasets/product_quality/counts",
                       headers={"Authorization": f"Bearer {token}"}).json()
    assert counts["training"] == 1200


def test_bad_value_exits_1_with_the_api_message(tmp_path: Path, ml_api: tuple[str, str],
                                                conveyor: Callable[..., Run]) -> None:
    url, token = ml_api
    csv = tmp_path / "bad.csv"
    conveyor("generate-data", "--rows", "5", "--out", str(csv))
    text = csv.read_text().splitlines()
    fields = text[2].split(",")
    fields[1] = "hot"
    csv.write_text("\n".join([text[0], text[1], ",".join(fields)]) + "\n")
    result = conveyor("load", "--dataset", "product_quality", "--split", "testing", "--file", str(csv),
                      "--url", url, "--token", token)
    assert result.returncode == 1 and "'hot'" in result.stdout


def test_unreachable_api_exits_2(tmp_path: Path, conveyor: Callable[..., Run]) -> None:
    csv = tmp_path / "rows.csv"
    conveyor("generate-data", "--rows", "5", "--out", str(csv))
    result = conveyor("load", "--dataset", "product_quality", "--split", "testing", "--file", str(csv),
                      "--url", "http://127.0.0.1:1", "--token", "t")
    assert result.returncode == 2 and "http://127.0.0.1:1" in result.stdout


def test_bench_ingest_prints_positive_rates(ml_api: tuple[str, str], conveyor: Callable[..., Run]) -> None:
    # Against the module's ml_data_api (the fixture starts it as the bench does without --url): a dataset of its own.
    url, token = ml_api
    result = conveyor("bench", "ingest", "--rows", "2000", "--batch-size", "1000", "--url", url, "--token", token)
    assert result.returncode == 0, result.stdout[-2000:]
    figures = json.loads(result.stdout)
    assert figures["rows"] == 2000
    for key in ("training_json", "production_json", "testing_csv"):
        assert figures[key]["rows_per_second"] > 0
    assert figures["stored"] == {"training": 2000, "testing": 2000, "production": 2000, "labeled": 0}
