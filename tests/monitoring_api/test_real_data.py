"""The real roasting-machine rows: no drift against themselves; early vs late years decided as computed directly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pandas as pd
import pytest

from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.schemas.datasets import DatasetSchema, Feature, Task
from conveyor_tools.stack import Stack
from monitoring_api.calibration import CalibrationCache, window_calibration
from monitoring_api.reports import ReportKind, Windows, json_report
from tests.support import register_dataset

REAL = Path(__file__).resolve().parents[3] / "shared/data/production_quality/pq_sensors_quality_5837.csv"
WINDOW = 500  # the latest rows of the late years: 2,310 late and 3,527 early rows calibrate windows of this size
pytestmark = pytest.mark.skipif(not REAL.exists(), reason="shared roasting-machine data not beside the repository")


@pytest.fixture(scope="module")
def loaded(stack: Stack) -> tuple[str, pd.DataFrame, list[str]]:
    real = pd.read_csv(REAL, parse_dates=["date_time"])
    sensors = [c for c in real.columns if c.startswith(("T_data", "H_data", "AH_data"))]
    schema = DatasetSchema(name="real_roaster", task=Task.regression, features=[Feature(name=s) for s in sensors],
                           target="quality")
    early = real[real["date_time"] < "2017-01-01"]
    late = real[real["date_time"] >= "2017-01-01"].assign(prediction=0.0)
    late = late.assign(record_id=[f"real-{i}" for i in range(len(late))]).drop(columns=["quality"])
    token = stack.config.api_token

    async def load() -> None:
        async with QueueManagerClient(stack.qm_url, token) as qm, MLDataClient(stack.ml_url, token) as ml:
            await register_dataset(qm, ml, schema, training=early, production=late)

    asyncio.run(load())
    return schema.name, real, sensors


def _report(stack: Stack, **params: str) -> dict:
    response = httpx.get(f"{stack.monitoring_url}/monitoring_api/data_drift", params=params, timeout=120,
                         headers={"Authorization": f"Bearer {stack.config.api_read_token}"})
    assert response.status_code == 200, response.text
    return response.json()


def test_late_years_against_themselves_show_no_drift(stack: Stack, loaded: tuple[str, pd.DataFrame, list[str]]) -> None:
    name, _, _ = loaded
    body = _report(stack, dataset=name, reference="window", reference_start="2017-01-01T00:00:00Z",
                   current_rows=str(WINDOW))
    assert body["result"]["calibration"]["status"] == "calibrated"
    assert body["result"]["number_of_drifted_columns"] == 0


def test_early_against_late_years_is_reported_faithfully(
    stack: Stack, loaded: tuple[str, pd.DataFrame, list[str]]
) -> None:
    """The API's statistics and decisions are Evidently's and the calibration's, computed here directly."""
    name, real, sensors = loaded
    body = _report(stack, dataset=name, reference="training", current_rows=str(WINDOW))
    early = real[real["date_time"] < "2017-01-01"].reset_index(drop=True)
    late = real[real["date_time"] >= "2017-01-01"].tail(WINDOW).reset_index(drop=True)
    calibration = window_calibration(CalibrationCache(1), name, early, sensors, [], WINDOW, 0.01)
    direct = json_report(ReportKind.data_drift, Windows(early, late, numerical=sensors), calibration)
    assert body["reference"]["total"] == len(early) and body["current"]["total"] == WINDOW
    assert body["result"]["calibration"]["status"] == direct["calibration"]["status"] == "calibrated"
    for column in sensors:
        api, here = body["result"]["columns"][column], direct["columns"][column]
        assert api["detected"] == here["detected"], column
        assert api["score"] == pytest.approx(here["score"], rel=1e-6), column
        assert api["threshold"] == pytest.approx(here["threshold"], rel=1e-6), column
    assert body["result"]["share_of_drifted_columns"] == pytest.approx(direct["share_of_drifted_columns"])
