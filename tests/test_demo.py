"""`conveyor demo`: up with demo data, stopped by SIGTERM, data kept for the next start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest

from conveyor_tools import devstack
from conveyor_tools.cli import demo_drift
from conveyor_tools.demo_dataset import DEMO_DRIFT_FEATURES, DEMO_DRIFT_SHIFT, DEMO_SERVICE
from tests.running_demo import RunningDemo
from tests.support import wait_for

SPLITS = (1200, 300)  # the demo's ROWS, 80 % for training and 20 % for testing


def test_demo_up_stop_and_restart(running_demo: RunningDemo) -> None:
    demo = running_demo
    demo.ensure_running()
    qm, ml = demo.url("QUEUE_MANAGER_PORT"), demo.url("ML_DATA_API_PORT")
    counts_url = f"{ml}/ml_data_api/datasets/product_quality/counts"
    written = demo.values
    assert written["QUEUE_MANAGER_URL"] == qm
    assert len(written["API_TOKEN"]) >= 20 and written["API_TOKEN"] in demo.log_text()
    assert httpx.get(f"{qm}/").json() == {"message": "This is the queue manager."}
    counts = demo.read(counts_url)
    assert (counts["training"], counts["testing"]) == SPLITS
    # Records stream from the data source through the workers into production rows.
    wait_for(lambda: demo.read(counts_url)["production"] >= 50, 60, "50 demo records predicted and stored",
             interval=1, details=lambda: demo.log_text()[-3000:])
    # A worker stores a batch's rows first and marks its jobs finished after: wait for the jobs too.
    wait_for(lambda: demo.read(f"{qm}/queue_manager/jobs/stats")["counts"].get("finished", 0) >= 50, 30,
             "50 demo jobs recorded as finished in queue_manager", interval=0.5)
    # Retraining, promotion and the explainer on this demo are driven through the dashboards by
    # tests/django_admin/test_browser.py (the same running demo), and over HTTP by tests/retraining_api.
    _inject_the_fault(demo, qm, counts_url[:-len("/counts")])
    assert demo.stop() == 0
    assert not devstack.port_open("127.0.0.1", demo.ports["QUEUE_MANAGER_PORT"])
    assert not devstack.port_open("127.0.0.1", demo.ports["ML_DATA_API_PORT"])

    demo.start()
    assert demo.values["API_TOKEN"] == written["API_TOKEN"], "the token is kept"
    counts = demo.read(counts_url)
    assert (counts["training"], counts["testing"]) == SPLITS, "rows are kept, not loaded twice"
    assert "train started" not in demo.log_text(), "the assigned model is kept, not trained again"
    datasets = demo.read(f"{qm}/queue_manager/datasets")
    assert [d["name"] for d in datasets] == ["product_quality"]
    assert demo.stop() == 0


def _inject_the_fault(demo: RunningDemo, qm: str, dataset_url: str) -> None:
    """The service retrains on drift; `conveyor demo-drift` replaces the undrifted stream by the faulty one."""
    policy = demo.read(f"{qm}/queue_manager/services/{DEMO_SERVICE}")["retraining"]
    assert policy["on"] == ["drift_detected"] and policy["training"]["source"] == "production", policy
    assert "conveyor demo-drift" in demo.log_text(), "the banner names the command"
    done = subprocess.run([sys.executable, "-m", "conveyor_tools.cli.main", "demo-drift"], env=demo.env,
                          cwd=devstack.ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "sensor fault injected" in done.stdout, done.stdout + done.stderr
    shifted = DEMO_DRIFT_FEATURES[0]

    def faulty_rows() -> list[dict]:
        rows = demo.read(f"{dataset_url}/production/rows", last=50)["rows"]
        return [r for r in rows if r["record_id"].startswith("fault")]

    rows = wait_for(faulty_rows, 30, "rows of the faulty data source predicted", interval=0.5,
                    details=lambda: demo.log_text()[-3000:])
    # Each faulty reading is the stream file's (row <n> of the record id <run>-<n>-<loop>) plus the shift.
    stream = pd.read_csv(demo.state_dir / "demo_stream.csv")
    for row in rows:
        expected = stream[shifted].iloc[int(row["record_id"].split("-")[1])] + DEMO_DRIFT_SHIFT
        assert row[shifted] == pytest.approx(expected), (row, expected)


def test_a_drift_request_is_taken_once_and_a_broken_one_is_removed(tmp_path: Path) -> None:
    assert demo_drift.take_request(tmp_path) is None
    demo_drift.request_path(tmp_path).write_text(json.dumps({"features": ["T_data_3_1"], "shift": -20}))
    request = demo_drift.take_request(tmp_path)
    assert request == demo_drift.DriftRequest(features=("T_data_3_1",), shift=-20.0)
    assert request.data_source_args() == ["--drift-features", "T_data_3_1", "--drift-shift", "-20"]
    assert demo_drift.take_request(tmp_path) is None, "taken once"
    demo_drift.request_path(tmp_path).write_text("{not json")
    with pytest.raises(ValueError, match="not a drift request"):
        demo_drift.take_request(tmp_path)
    assert not demo_drift.request_path(tmp_path).exists()
