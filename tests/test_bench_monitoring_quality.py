"""`conveyor bench monitoring-quality` at small sizes: every figure printed, written, and sane."""

import json
from pathlib import Path
from typing import Any

import pytest

from conveyor_tools import datagen
from conveyor_tools.cli.main import main

SMALL = ["--checks", "20", "--runs", "2", "--max-checks", "2", "--shifts", "2", "--blocks", "30"]


def _bench(capsys: pytest.CaptureFixture[str], *args: str, out: Path) -> tuple[str, dict[str, Any]]:
    # In this process (the command as `conveyor` parses it): a second interpreter would import Evidently again.
    assert main(["bench", "monitoring-quality", *SMALL, *args, "--json", str(out)]) == 0
    return capsys.readouterr().out, json.loads(out.read_text())


def test_demo_generator_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    printed, figures = _bench(capsys, out=tmp_path / "figures.json")
    calibration = figures["calibration"]
    assert calibration["status"] == "calibrated"
    assert calibration["rows_x_features_x_blocks"] == [4800, 11, 30] and calibration["seconds"] > 0

    alarms = figures["false_alarms"]
    assert alarms["checks"] == 20 and "consecutive" in alarms["windows"]
    # Fixed thresholds flag most undrifted demo windows; the calibrated decision must do better.
    assert alarms["old_rule"]["alarms"] >= 10 > alarms["calibrated"]["alarms"]
    assert alarms["old_rule"]["alarms"] >= alarms["evidently_default"]["alarms"]
    assert alarms["ratio_old_rule"]["at_least"] > 1  # even against the calibrated rate's 95 % upper bound

    # 2 standard deviations on 1, 3 and all 11 features: each run is seen at its first check.
    detection = figures["detection"]
    assert [(d["shift_std"], d["features"]) for d in detection] == [(2.0, 1), (2.0, 3), (2.0, 11)]
    assert all(d["within_1_check"] == d["runs"] == 2 and d["never_within_max"] == 0 for d in detection)

    undrifted = figures["estimation"]["undrifted"]
    assert undrifted["estimated_windows"] == 20 and 0 <= undrifted["mean_relative_error"] < 0.5
    assert 10 < undrifted["realized_mae_mean"] < 40  # the generator's quality noise has an sd of 24

    # Performance verdicts on the same 20 windows: the reference is the model's error on the 1,200 testing rows.
    performance = figures["performance"]
    assert performance["reference"]["rows"] == 1200 and 10 < performance["reference"]["mae"] < 40
    assert performance["reference"]["mae"] < performance["reference"]["rmse"]
    undrifted, fault, worse = (performance[k] for k in ("undrifted", "sensor_fault", "labels_worse"))
    assert undrifted["windows"] == fault["windows"] == worse["windows"] == 20
    assert 0.8 < undrifted["mae_over_reference"]["median"] < 1.2
    # The bound only ever removes alarms the tolerance alone raises: it is the stricter test.
    for case in (undrifted, fault, worse):
        assert case["platform"]["alarms"] <= case["tolerance_alone"]["alarms"]
        assert set(case["by_metric"]) == {"mae", "rmse"}
    assert undrifted["platform"]["alarms"] <= 1
    # The sensor fault nearly doubles the MAE: every window is flagged; 30 % worse labels: errors x 1.3 exactly.
    assert fault["platform"]["alarms"] == 20 and fault["mae_over_reference"]["median"] > 1.5
    assert worse["mae_over_reference"]["median"] == pytest.approx(1.3 * undrifted["mae_over_reference"]["median"],
                                                                  abs=0.002)
    assert 0 < worse["platform"]["alarms"] <= worse["tolerance_alone"]["alarms"] == 20
    assert 0 <= performance["cpu_seconds"] <= performance["seconds"] + 1  # one thread: CPU time within wall time

    assert len(figures["targets"]) == 5
    for line in ("False alarms over 20 checks", "fewer false alarms than the old rule", "Detection delay",
                 "Estimated vs realized MAE", "LinearRegression", "Calibration: calibrated",
                 "Performance verdicts on labelled rows", "undrifted (false alarms): 0/20",
                 "sensor fault +60 on T_data_1_2", "labels 30% worse", "PASS  false performance alarms <= 2%",
                 "PASS  the sensor fault flagged performance_degraded in >= 95% of windows"):
        assert line in printed
    assert printed.count("PASS") + printed.count("FAIL") == 5


def test_a_csv_with_a_time_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Shuffled on disk: the bench must put the rows back in time order itself.
    frame = datagen.generate(3000, seed=5).sample(frac=1.0, random_state=0)
    path = datagen.write_csv(frame, tmp_path / "rows.csv")
    features = "T_data_1_1,T_data_2_1,T_data_3_1,H_data"
    printed, figures = _bench(capsys, "--csv", str(path), "--time-column", "date_time", "--target", "quality",
                              "--features", features, "--window", "200", out=tmp_path / "figures.json")
    assert figures["features"] == features.split(",")
    assert figures["model_training_rows"] == 1500 and figures["estimator_rows"] == 300
    assert figures["calibration"]["status"] == "calibrated"
    # 1,200 stream rows hold 6 windows of 200: the 20 checks slide over them, and the output says so.
    assert figures["false_alarms"]["checks"] >= 20 and "sliding" in figures["false_alarms"]["windows"]
    assert [d["features"] for d in figures["detection"]] == [1, 3, 4]
    assert "sliding windows" in printed
    # Without the demo's faulty sensors among the features there is no fault to measure, and the output says so.
    assert figures["performance"]["sensor_fault"] is None and "not measured" in figures["performance"]["fault"]
    assert figures["performance"]["undrifted"]["windows"] == figures["false_alarms"]["checks"]
    assert printed.count("PASS") + printed.count("FAIL") == 5 and "sensor fault: not measured" in printed
