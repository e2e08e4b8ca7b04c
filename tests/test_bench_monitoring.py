"""`conveyor bench monitoring` on a small window: complete figures, the sample stated."""

import json

from conveyor_tools.benchmarks import monitoring
from conveyor_tools.stack import Stack
from tests.conftest import SHARED_SAMPLE_CAP
from tests.support import bench_args


def test_bench_monitoring_smoke(shared_stack: Stack, unique_name: str) -> None:
    # On the session's stack (the command would start one of its own); its windows are sampled to the cap.
    args = bench_args(monitoring, "--rows", "3000", "--sample-cap", str(SHARED_SAMPLE_CAP))
    figures = json.loads(json.dumps(monitoring.measure(shared_stack, args, dataset=unique_name)))
    drift = figures["data_drift"]
    assert drift["current_total"] == 3000 and drift["current_rows_used"] == 1000, "sampled to the cap, and says so"
    assert figures["regression_performance"]["seconds"] > 0 and figures["data_drift_html"]["seconds"] > 0
