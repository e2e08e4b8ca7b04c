"""The Evidently engine on known data: it flags what drifted and nothing else; the typed client reads its answers."""

from __future__ import annotations

import asyncio
import functools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conveyor.clients import MonitoringClient
from conveyor.schemas.monitoring import Alert, CheckPoint, CheckRun, DataDrift, ReportOut, ReportQuery
from monitoring_api.calibration import Calibration, StatTests, calibrate
from monitoring_api.drift import feature_statistics
from monitoring_api.reports import ReportKind, Windows, html_report, json_report, sample
from tests.monitoring_api.conftest import DRIFTED, Fed

FEATURES = [f"s{i}" for i in range(6)]
REAL = Path(__file__).resolve().parents[3] / "shared/data/production_quality/pq_sensors_quality_5837.csv"


def _frame(rows: int, seed: int, shift: dict[str, float] | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(100, 10, size=(rows, len(FEATURES))), columns=FEATURES)
    for column, amount in (shift or {}).items():
        frame[column] += amount
    frame["y"] = frame[FEATURES].sum(axis=1) / 10 + rng.normal(0, 1, rows)
    frame["prediction"] = frame[FEATURES].sum(axis=1) / 10
    return frame


def _windows(reference: pd.DataFrame, current: pd.DataFrame) -> Windows:
    return Windows(reference, current, numerical=FEATURES, target="y", prediction="prediction")


REFERENCE = _frame(3000, 1)


def _calibration(reference: pd.DataFrame | None = None) -> Calibration:
    if reference is None:
        return _reference_calibration()
    return calibrate(reference, FEATURES, [], 500, false_alarm=0.01, blocks=50)


@functools.cache
def _reference_calibration() -> Calibration:
    return calibrate(REFERENCE, FEATURES, [], 500, false_alarm=0.01, blocks=50)


def test_drift_flags_the_shifted_columns_only_at_the_calibrated_thresholds() -> None:
    calibration = _calibration()
    current = _frame(500, 2, {"s1": 8, "s4": -8})
    result = json_report(ReportKind.data_drift, _windows(REFERENCE, current), calibration)
    flagged = {name for name, column in result["columns"].items() if column["detected"]}
    assert flagged == {"s1", "s4"} and result["dataset_drift"] is True
    assert result["number_of_drifted_columns"] == 2
    assert result["share_of_drifted_columns"] == pytest.approx(2 / 6)
    entry = result["columns"]["s1"]
    assert entry["stattest"] and entry["threshold"] == pytest.approx(calibration.thresholds["s1"])
    # Evidently's scores are the statistics the checks compute (the same registry functions).
    statistics = feature_statistics(REFERENCE, current, FEATURES, [], StatTests())
    assert {n: c["score"] for n, c in result["columns"].items()} == pytest.approx(statistics)
    assert result["calibration"]["status"] == "calibrated" and result["calibration"]["window_rows"] == 500
    assert result["calibration"]["per_feature_alpha"] == pytest.approx(0.01 / 6)
    assert "Bonferroni" in result["calibration"]["method"]
    assert result["decision"]["features_exceeded"] == ["s1", "s4"]


def test_no_drift_between_samples_of_one_distribution() -> None:
    result = json_report(ReportKind.data_drift, _windows(REFERENCE, _frame(500, 2)), _calibration())
    assert not any(column["detected"] for column in result["columns"].values())
    assert result["dataset_drift"] is False and result["decision"]["status"] == "calibrated"


def test_an_uncalibrated_report_decides_nothing_and_says_why() -> None:
    small = _frame(900, 1)
    calibration = _calibration(small)
    result = json_report(ReportKind.data_drift, _windows(small, _frame(500, 2, {"s1": 30})), calibration)
    assert result["dataset_drift"] is False and result["number_of_drifted_columns"] == 0
    assert result["calibration"]["status"] == "uncalibrated" and "900" in result["calibration"]["reason"]
    assert all(c["threshold"] is None and not c["detected"] and c["score"] for c in result["columns"].values())


def test_a_drift_report_needs_its_calibration() -> None:
    with pytest.raises(ValueError, match="calibration"):
        json_report(ReportKind.data_drift, _windows(REFERENCE, _frame(500, 2)))


def test_regression_numbers_equal_a_direct_computation() -> None:
    current = _frame(1500, 3)
    result = json_report(ReportKind.regression_performance, _windows(_frame(1000, 4), current))
    error = current["prediction"] - current["y"]
    direct_r2 = 1 - (error**2).sum() / ((current["y"] - current["y"].mean()) ** 2).sum()
    assert result["current"]["mae"] == pytest.approx(error.abs().mean())
    assert result["current"]["rmse"] == pytest.approx(np.sqrt((error**2).mean()))
    assert result["current"]["r2"] == pytest.approx(direct_r2)


def test_target_drift_names_target_and_prediction() -> None:
    shifted = _frame(2000, 5, {name: 5 for name in FEATURES})
    result = json_report(ReportKind.target_drift, _windows(_frame(2000, 6), shifted))
    assert set(result["columns"]) == {"y", "prediction"}
    assert all(column["detected"] for column in result["columns"].values())


def test_html_is_evidentlys_report_marking_what_the_platform_decides() -> None:
    windows = _windows(REFERENCE, _frame(500, 2, {"s1": 8}))
    calibration = _calibration()
    html = html_report(ReportKind.data_drift, windows, calibration)
    assert html.lstrip().lower().startswith("<html") or "<!doctype html>" in html.lower()[:200]
    assert "evidently" in html.lower()
    assert json_report(ReportKind.data_drift, windows, calibration)["number_of_drifted_columns"] == 1
    assert len(re.findall(r'"data_drift": "Detected"', html)) == 1
    # One column over its (already corrected) threshold is dataset drift, in the report as in the checks.
    assert "Drift is detected for 16.667% of columns (1 out of 6)" in html


def test_sample_caps_and_keeps_time_order() -> None:
    frame = _frame(1000, 7)
    sampled = sample(frame, 100, seed=1)
    assert len(sampled) == 100 and sampled.index.is_monotonic_increasing
    assert sample(frame, 5000) is frame


@pytest.mark.skipif(not REAL.exists(), reason="shared roasting-machine data not beside the repository")
def test_real_rows_against_themselves_show_no_drift() -> None:
    real = pd.read_csv(REAL)
    sensors = [c for c in real.columns if c.startswith(("T_data", "H_data", "AH_data"))]
    reference, current = real.iloc[:-500], real.iloc[-500:]
    calibration = calibrate(reference, sensors, [], 500, false_alarm=0.01, blocks=50)
    result = json_report(ReportKind.data_drift, Windows(reference, current, numerical=sensors), calibration)
    assert result["calibration"]["status"] == "calibrated" and result["number_of_drifted_columns"] == 0
    assert all(column["score"] is not None for column in result["columns"].values())


def test_classification_performance() -> None:
    rng = np.random.default_rng(2)
    truth = rng.choice(["good", "bad"], size=500)
    predicted = np.where(rng.random(500) < 0.8, truth, np.where(truth == "good", "bad", "good"))
    frame = pd.DataFrame({"s0": rng.normal(size=500), "grade": truth, "prediction": predicted})
    w = Windows(None, frame, numerical=["s0"], target="grade", prediction="prediction", classification=True)
    result = json_report(ReportKind.classification_performance, w)
    assert result["current"]["accuracy"] == pytest.approx((truth == predicted).mean())


def test_the_typed_client_reads_monitoring_apis_answers(drifted: Fed) -> None:
    async def read() -> tuple[ReportOut, str, CheckRun, list[CheckPoint], list[Alert]]:
        stack = drifted.stack
        async with MonitoringClient(stack.monitoring_url, stack.config.api_token, timeout=120) as client:
            # 500 rows: the 3,200 training rows calibrate windows of up to 800 rows (4 windows' worth).
            query = ReportQuery(dataset=drifted.dataset, service=drifted.service, current_rows=500)
            report = await client.report(ReportKind.data_drift, query)
            html = await client.report_html(ReportKind.data_drift, query.model_copy(update={"current_rows": 300}))
            run = await client.run_check(drifted.service)
            return report, html, run, await client.checks(drifted.service), await client.alerts(drifted.service)

    report, html, run, checks, alerts = asyncio.run(read())
    drift = DataDrift.model_validate(report.result)
    assert {name for name, column in drift.columns.items() if column.detected} == set(DRIFTED)
    assert drift.dataset_drift and report.result["calibration"]["status"] == "calibrated"
    assert all(column.threshold for column in drift.columns.values())
    assert report.current.total == 500 and report.reference and report.reference.split == "training"
    assert "evidently" in html.lower()
    assert run.service == drifted.service and run.rows_current > 0 and run.drift_share
    assert {name for name, score in run.drift_scores().items() if score is not None} >= set(DRIFTED)
    assert run.id in [check.id for check in checks]
    assert [a.id for a in run.alerts] == [a.id for a in alerts if a.check_id == run.id]
