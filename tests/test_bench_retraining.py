"""`conveyor bench retraining` on a small dataset: complete figures."""

import json
import subprocess
import sys


def test_bench_retraining_smoke() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "conveyor_tools.cli.main", "bench", "retraining", "--rows", "1000", "--include", "lr",
         "--explainer-rows", "50"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    assert figures["training_rows"] == 800 and figures["holdout_rows"] == 200
    assert set(figures["retrained"]) >= {"Model", "MAE", "RMSE", "R2"}
    assert figures["api_while_running"]["requests"] >= 1
    assert figures["explainer"]["html_bytes"] > 10_000 and figures["explainer"]["build_seconds"] > 0
