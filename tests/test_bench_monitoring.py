"""`conveyor bench monitoring` on a small window: complete figures, the sample stated."""

import json
import subprocess
import sys


def test_bench_monitoring_smoke() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "conveyor_tools.cli.main", "bench", "monitoring", "--rows", "3000",
         "--sample-cap", "1000"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    drift = figures["data_drift"]
    assert drift["current_total"] == 3000 and drift["current_rows_used"] == 1000, "sampled to the cap, and says so"
    assert figures["regression_performance"]["seconds"] > 0 and figures["data_drift_html"]["seconds"] > 0
