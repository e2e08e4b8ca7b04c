"""`conveyor bench retraining` on a small dataset: complete figures."""

import json

from conveyor_tools.benchmarks import retraining
from conveyor_tools.stack import Stack
from tests.support import bench_args


def test_bench_retraining_smoke(shared_stack: Stack, unique_name: str) -> None:
    # On the session's stack (the command would start one of its own).
    args = bench_args(retraining, "--rows", "1000", "--include", "lr", "--explainer-rows", "50")
    figures = json.loads(json.dumps(retraining.measure(shared_stack, args, dataset=unique_name,
                                                       model_name=f"{unique_name}_model")))
    assert figures["training_rows"] == 800 and figures["holdout_rows"] == 200
    assert set(figures["retrained"]) >= {"Model", "MAE", "RMSE", "R2"}
    assert figures["api_while_running"]["requests"] >= 1
    assert figures["explainer"]["html_bytes"] > 10_000 and figures["explainer"]["build_seconds"] > 0
