"""`conveyor bench pipeline` on a few records: its figures are complete and nothing is lost."""

import json
import subprocess
import sys


def test_bench_pipeline_smoke() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "conveyor_tools.cli.main", "bench", "pipeline", "--records", "300", "--workers", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    pipeline = figures["pipeline"]
    assert pipeline["records"] == 300 and pipeline["lost"] == 0 and pipeline["duplicated"] == 0
    assert pipeline["records_per_second"] > 0 and pipeline["latency_ms"]["p99"] is not None
    assert figures["broker"]["records_per_second"] > 0 and figures["ratio_pipeline_to_broker"] > 0
