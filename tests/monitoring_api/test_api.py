"""monitoring_api through the real pipeline: drift, labels, scheduled checks, alert episodes, bad parameters."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

from tests.monitoring_api.conftest import DRIFTED, WINDOW_ROWS, Fed
from tests.support import wait_for


def test_drift_report_flags_the_two_drifted_sensors(drifted: Fed) -> None:
    response = drifted.report("data_drift", current_rows=WINDOW_ROWS)
    assert response.status_code == 200, response.text
    body = response.json()
    flagged = {name for name, c in body["result"]["columns"].items() if c["detected"]}
    assert flagged == set(DRIFTED)
    assert body["current"]["total"] == WINDOW_ROWS and body["reference"]["split"] == "training"
    column = body["result"]["columns"]["T_data_1_1"]
    assert column["stattest"] and column["threshold"] is not None and column["score"] > column["threshold"]
    assert body["result"]["calibration"]["status"] == "calibrated"


def test_a_stream_without_drift_flags_nothing(steady: Fed) -> None:
    body = steady.report("data_drift", current_rows=WINDOW_ROWS).json()
    assert not [n for n, c in body["result"]["columns"].items() if c["detected"]]
    assert body["result"]["share_of_drifted_columns"] == 0


def test_html_reports_and_their_cache(steady: Fed) -> None:
    started = time.perf_counter()
    first = steady.report("data_drift", current_rows=WINDOW_ROWS, format="html")
    first_seconds = time.perf_counter() - started
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
    assert "evidently" in first.text.lower()
    started = time.perf_counter()
    again = steady.report("data_drift", current_rows=WINDOW_ROWS, format="html")
    assert again.text == first.text and time.perf_counter() - started < first_seconds
    for kind in ("data_quality", "target_drift"):
        assert steady.report(kind, current_rows=300, format="html").status_code == 200


def test_windows_are_sampled_to_the_cap_and_say_so(steady: Fed) -> None:
    body = steady.report("data_quality", reference="training").json()
    assert body["reference"]["total"] == 3200 and body["reference"]["sampled"] is False
    assert body["sample_cap"] >= body["reference"]["rows"]


def test_collector_labels_then_metrics_equal_a_direct_computation(steady: Fed) -> None:
    env = {"ML_DATA_API_URL": steady.stack.ml_url, "QUEUE_MANAGER_URL": steady.stack.qm_url,
           "API_TOKEN": steady.stack.config.api_token}
    stream_file = steady.stack.config.state_dir / f"{steady.service}.csv"
    steady.stream.to_csv(stream_file, index=False)
    result = subprocess.run(
        [sys.executable, "-m", "ground_truth_collector", "--dataset", steady.dataset, "--service", steady.service,
         "--file", str(stream_file), "--delay-seconds", "0", "--missing-share", "0.2", "--once"],
        env={**__import__("os").environ, **env}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    counts = httpx.get(f"{steady.stack.ml_url}/ml_data_api/datasets/{steady.dataset}/counts",
                       headers=steady.read_headers).json()
    assert 0.7 * 1500 < counts["labeled"] < 0.9 * 1500, "about a fifth of the labels never arrive"
    rows = httpx.get(f"{steady.stack.ml_url}/ml_data_api/datasets/{steady.dataset}/production/rows",
                     params={"labeled": "true", "limit": 10000}, headers=steady.read_headers).json()["rows"]
    truth = {f"{steady.run_id}-{i}-0": q for i, q in enumerate(steady.stream["quality"])}
    assert all(r["label"] == truth[r["record_id"]] for r in rows), "each label joined to its own record"
    body = steady.report("regression_performance", current_rows=1500).json()
    label = np.array([r["label"] for r in rows], dtype=float)
    error = np.array([r["prediction"] for r in rows], dtype=float) - label
    assert body["current"]["total"] == 1500
    assert body["result"]["current"]["mae"] == pytest.approx(np.abs(error).mean())
    assert body["result"]["current"]["rmse"] == pytest.approx(np.sqrt((error**2).mean()))
    assert body["result"]["current"]["r2"] == pytest.approx(1 - (error**2).sum() / ((label - label.mean()) ** 2).sum())
    html = steady.report("regression_performance", current_rows=1500, format="html")
    assert html.status_code == 200 and "evidently" in html.text.lower()
    target = steady.report("target_drift", current_rows=1500).json()["result"]["columns"]
    assert set(target) == {"quality", "prediction"}


def test_scheduled_checks_open_one_drift_episode_and_publish_it_once(
    drifted: Fed, steady: Fed, webhook: tuple[str, list[dict]]
) -> None:
    monitoring = drifted.stack.monitoring_url
    events: list[dict] = []

    def drift_events() -> list[dict]:
        events.extend(drifted.events.drain())
        return [e for e in events if e["event"] == "drift_detected"]

    opened = wait_for(drift_events, 60, f"a drift_detected event of {drifted.service}",
                      details=lambda: drifted.stack.log_tail("monitoring_api"))
    assert opened[0]["service"] == drifted.service and opened[0]["episode"]["status"] == "open"

    def checks_of(service: str) -> list[dict]:
        return httpx.get(f"{monitoring}/monitoring_api/checks", params={"service": service},
                         headers=drifted.read_headers).json()

    # A check that began while the last records were arriving may have seen an older window.
    count = len(checks_of(drifted.service))
    whole = wait_for(lambda: [c for c in checks_of(drifted.service)[count:] if c["rows_current"] == WINDOW_ROWS], 60,
                     f"a scheduled check of {drifted.service} after its whole stream",
                     details=lambda: drifted.stack.log_tail("monitoring_api"))
    assert {n for n, c in whole[-1]["drift"].items() if c["exceeded"]} == set(DRIFTED)
    alerts = httpx.get(f"{monitoring}/monitoring_api/alerts", params={"service": drifted.service},
                       headers=drifted.read_headers).json()
    assert alerts and all(a["kind"] == "drift_detected" for a in alerts) and "T_data_1_1" in alerts[0]["message"]
    assert {a["episode_id"] for a in alerts} == {opened[0]["episode"]["id"]}, "every alerting check, one episode"
    # The webhook is posted after the event is published: wait for it rather than assume it.
    posted = wait_for(lambda: [body for body in webhook[1] if body["service"] == drifted.service], 30,
                      f"an alert for {drifted.service} posted to the webhook",
                      details=lambda: drifted.stack.log_tail("monitoring_api"))
    assert posted[0]["event"] == "drift_detected" and posted[0]["threshold"] is not None
    assert posted[0]["episode"]["id"] == opened[0]["episode"]["id"]
    episodes = httpx.get(f"{monitoring}/monitoring_api/episodes", params={"service": drifted.service},
                         headers=drifted.headers).json()
    assert episodes["total"] == 1 and episodes["items"][0]["checks"] >= len(alerts)
    assert len(drift_events()) == 1 and len(posted) == 1, "an episode is announced once, not at every check"
    # Checks that ran while the steady stream was still arriving saw smaller windows, calibrated at their
    # own size: none of them, nor the ones over a whole window, sees drift.
    complete = wait_for(lambda: [c for c in checks_of(steady.service) if c["rows_current"] == WINDOW_ROWS], 60,
                        f"a scheduled check of {steady.service} over a whole window",
                        details=lambda: drifted.stack.log_tail("monitoring_api"))
    assert all(c["drift_share"] == 0 for c in complete)
    alerts = httpx.get(f"{monitoring}/monitoring_api/alerts", params={"service": steady.service,
                                                                      "kind": "drift_detected"},
                       headers=steady.read_headers).json()
    assert alerts == []


def test_run_a_check_now(steady: Fed) -> None:
    url = f"{steady.stack.monitoring_url}/monitoring_api/checks/run"
    assert httpx.post(url, params={"service": steady.service}).status_code == 401
    response = httpx.post(url, params={"service": steady.service}, headers=steady.headers, timeout=120)
    assert response.status_code == 200 and response.json()["drift_share"] == 0 and response.json()["alerts"] == []
    assert response.json()["drift_decision"]["status"] == "calibrated"
    missing = httpx.post(url, params={"service": "nope"}, headers=steady.headers)
    assert missing.status_code == 404


def test_bad_parameters_are_4xx_with_a_message(steady: Fed) -> None:
    cases = [
        (steady.report("data_drift", dataset="nope"), 404, "nope"),
        (steady.report("data_drift", current_start="2001-01-01T00:00:00Z", current_end="2001-01-02T00:00:00Z"),
         422, "no rows"),
        (steady.report("data_drift", columns="T_data_1_1,colour"), 422, "colour"),
        (steady.report("data_drift", reference="window"), 422, "reference_start"),
        (steady.report("data_drift", current_rows=10, current_hours=1), 400, "current_rows"),
        (steady.report("data_drift", format="pdf"), 422, ""),
        (steady.report("forecast"), 422, ""),
    ]
    for response, status, needle in cases:
        assert response.status_code == status, response.text
        assert needle in response.json()["detail"]


def test_performance_without_labels_is_422(drifted: Fed) -> None:
    response = drifted.report("regression_performance", current_rows=100)
    assert response.status_code == 422 and "label" in response.json()["detail"]


def test_health_ready_metrics(steady: Fed) -> None:
    url = steady.stack.monitoring_url
    assert httpx.get(f"{url}/health").json()["service"] == "monitoring_api"
    assert httpx.get(f"{url}/ready").json()["checks"]["postgresql"] == "ok"
    assert "http_requests_total" in httpx.get(f"{url}/metrics").text
