"""`conveyor demo`: up with demo data, stopped by SIGTERM, data kept for the next start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conveyor_tools import devstack, localenv


def _start(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "conveyor_tools.cli.main", "demo", "--rows", "1000"],
                            env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=devstack.ROOT)


def _wait_for_banner(proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "demo is running" in log.read_text(errors="replace"):
            return
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"no banner after {timeout}s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


def test_demo_up_stop_and_restart(tmp_path: Path) -> None:
    database = f"conveyor_demo_test_{os.getpid()}"
    qm_port, ml_port, rt_port = devstack.free_port(), devstack.free_port(), devstack.free_port()
    env = {
        **os.environ, "CONVEYOR_STATE_DIR": str(tmp_path), "QUEUE_MANAGER_PORT": str(qm_port),
        "ML_DATA_API_PORT": str(ml_port), "MONITORING_API_PORT": str(devstack.free_port()),
        "RETRAINING_API_PORT": str(rt_port), "ADMIN_PORT": str(devstack.free_port()),
        "DEMO_MONGO_PORT": str(devstack.free_port()),
        "DEMO_DATABASE": database, "DEMO_WORKER_METRICS_PORT": str(devstack.free_port()), "DEMO_RATE": "50",
    }
    env.pop("API_TOKEN", None)
    env.pop("MONGODB_URI", None)
    log = tmp_path / "demo.log"
    try:
        proc = _start(env, log)
        _wait_for_banner(proc, log)
        written = localenv.read(tmp_path / "demo.env")
        assert written["QUEUE_MANAGER_URL"] == f"http://127.0.0.1:{qm_port}"
        assert len(written["API_TOKEN"]) >= 20 and written["API_TOKEN"] in log.read_text()
        assert httpx.get(f"http://127.0.0.1:{qm_port}/").json() == {"message": "This is the queue manager."}
        counts = httpx.get(f"http://127.0.0.1:{ml_port}/ml_data_api/datasets/product_quality/counts").json()
        assert (counts["training"], counts["testing"]) == (800, 200)
        # Records stream from the data source through the workers into production rows.
        ml_counts = f"http://127.0.0.1:{ml_port}/ml_data_api/datasets/product_quality/counts"
        deadline = time.monotonic() + 60
        while httpx.get(ml_counts).json()["production"] < 50 and time.monotonic() < deadline:
            time.sleep(1)
        assert httpx.get(ml_counts).json()["production"] >= 50, log.read_text()[-3000:]
        stats = httpx.get(f"http://127.0.0.1:{qm_port}/queue_manager/jobs/stats").json()
        assert stats["counts"]["finished"] >= 50
        _retrain_promote_and_explain(f"http://127.0.0.1:{rt_port}/retraining_api", ml_counts[:-len("/counts")],
                                     written["API_TOKEN"])
        assert _stop(proc) == 0
        assert not devstack.port_open("127.0.0.1", qm_port) and not devstack.port_open("127.0.0.1", ml_port)

        log = tmp_path / "demo-again.log"
        proc = _start(env, log)
        _wait_for_banner(proc, log)
        assert localenv.read(tmp_path / "demo.env")["API_TOKEN"] == written["API_TOKEN"], "the token is kept"
        counts = httpx.get(f"http://127.0.0.1:{ml_port}/ml_data_api/datasets/product_quality/counts").json()
        assert (counts["training"], counts["testing"]) == (800, 200), "rows are kept, not loaded twice"
        assert "train started" not in log.read_text(), "the assigned model is kept, not trained again"
        datasets = httpx.get(f"http://127.0.0.1:{qm_port}/queue_manager/datasets").json()
        assert [d["name"] for d in datasets] == ["product_quality"]
        assert _stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        devstack.drop_database(database)


def _retrain_promote_and_explain(retraining: str, dataset_url: str, token: str) -> None:
    """Over HTTP, as a person would: a run finishes with the comparison, promotion switches the workers."""
    headers = {"Authorization": f"Bearer {token}"}
    started = httpx.post(f"{retraining}/runs", headers=headers, timeout=60, json={
        "dataset": "product_quality", "algorithm": "product_quality_model", "include": ["lr", "dt"]})
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 240
    while (run := httpx.get(f"{retraining}/runs/{started.json()['id']}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, run
        time.sleep(1)
    assert run["status"] == "finished", run
    assert set(run["comparison"]) == {"retrained_model_results", "previous_model_results"}
    promoted = httpx.post(f"{retraining}/runs/{run['id']}/promote", headers=headers, timeout=60)
    assert promoted.status_code == 200 and promoted.json()["services"] == ["service_product_quality_A"], promoted.text
    deadline = time.monotonic() + 90
    while not any(r["model_version"] == run["new_version"] for r in httpx.get(
            f"{dataset_url}/production/rows", params={"last": 20}).json()["rows"]):
        assert time.monotonic() < deadline, "the workers did not switch to the promoted version"
        time.sleep(1)
    params = {"model_name": "product_quality_model", "evaluate_on": "production", "rows": 100}
    deadline = time.monotonic() + 120
    while (page := httpx.get(f"{retraining}/get_explainer_dashboard", params=params, timeout=60)).status_code == 202:
        assert time.monotonic() < deadline, page.text
        time.sleep(1)
    assert page.status_code == 200 and "T_data_1_1" in page.text, page.text[:500]
