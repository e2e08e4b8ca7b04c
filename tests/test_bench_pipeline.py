"""`conveyor bench pipeline` on a few records: its figures are complete and nothing is lost."""

import json
from typing import Any

import pytest

from conveyor_tools.benchmarks import pipeline
from conveyor_tools.stack import Stack
from tests.support import bench_args


def bench(stack: Stack, *options: str) -> dict[str, Any]:
    # On the session's stack (the command would start one of its own); each run names its dataset and queue.
    args = bench_args(pipeline, "--workers", "1", *options)
    figures: dict[str, Any] = json.loads(json.dumps(pipeline.with_broker(pipeline.measure(stack, args), args)))
    return figures


def complete(run: dict[str, Any], records: int) -> None:
    assert run["records"] == records and run["lost"] == 0 and run["duplicated"] == 0
    assert run["records_per_second"] > 0 and run["latency_ms"]["p99"] is not None
    assert run["cpu_seconds"]["workers"] > 0


def test_bench_pipeline_with_a_shadow_challenger_prints_both_runs_the_broker_and_the_ratios(
        shared_stack: Stack) -> None:
    # One bench run covers it all: with --challenger the run without one is the baseline, measured first.
    figures = bench(shared_stack, "--records", "300", "--challenger", "shadow")
    without, shadow = figures["pipeline"], figures["challenger"]
    complete(without, 300)
    complete(shadow, 300)
    assert shadow["mode"] == "shadow" and shadow["shadow_rows"] == 300 and shadow["challenger_health"] != "failing"
    ratio = shadow["records_per_second"] / without["records_per_second"]
    assert abs(figures["ratio_challenger_to_pipeline"] - ratio) < 0.001
    assert figures["broker"]["records_per_second"] > 0 and figures["ratio_pipeline_to_broker"] > 0


def test_bench_pipeline_scale_prints_one_table_with_efficiency_and_the_part_that_saturates_first(
        shared_stack: Stack) -> None:
    args = bench_args(pipeline, "--scale", "1,2", "--records", "200", "--skip-broker")
    figures: dict[str, Any] = json.loads(json.dumps(pipeline.scale(args, shared_stack)))
    one, two = figures["scale"]
    assert (one["workers"], two["workers"]) == (1, 2)
    for run in (one, two):
        complete(run, 200)
        cpu = run["cpu_seconds"]
        # Every process on the path is read from /proc, the stores' too: PostgreSQL's backends and the broker.
        assert cpu["postgres"] is not None and cpu["postgres"] > 0 and cpu["rabbitmq"] is not None
        assert cpu["secantusdb"] > 0 and cpu["publisher"] > 0
        sat = run["saturation"]
        assert sat["busiest"] in pipeline.PARTS
        assert sat["share_of_ceiling"][sat["busiest"]] == max(sat["share_of_ceiling"].values())
    assert one["efficiency"] == 1.0
    assert abs(two["efficiency"] - two["records_per_second"] / 2 / one["records_per_second"]) < 0.01
    table = pipeline.render(figures).split("Scale curve", 1)[1].splitlines()
    assert [line.split()[0] for line in table[2:4]] == ["1", "2"]


def test_bench_pipeline_refuses_a_scale_that_is_not_worker_counts() -> None:
    with pytest.raises(SystemExit):
        bench_args(pipeline, "--scale", "1,two")
    with pytest.raises(SystemExit):
        bench_args(pipeline, "--scale", "0,2")
