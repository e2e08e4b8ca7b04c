"""An executor that stops mid-run: stopped politely, the run goes back to the queue and finishes
elsewhere; killed, the run is failed with the reason once its heartbeat is stale, never left running."""

from __future__ import annotations

import signal

from conveyor_tools.stack import Component, Stack
from tests.retraining_api.conftest import seed


def _executor(stack: Stack) -> Component:
    return next(c for c in stack.components if c.name.startswith("retraining_executor") and c.proc.poll() is None)


def test_a_stopped_executor_requeues_its_run_for_the_next_one(stack: Stack) -> None:
    seeded = seed(stack, production_rows=0)
    run_id = seeded.start_run(include=["lr", "dt"]).json()["id"]
    seeded.wait_run(run_id, ("running",), timeout=60)
    executor = _executor(stack)
    executor.proc.send_signal(signal.SIGTERM)
    executor.proc.wait(30)
    stack.components.remove(executor)  # stopped on purpose
    run = seeded.run(run_id)
    assert run["status"] == "queued" and "requeued" in run["log_tail"][-1], run
    stack.start_python("retraining_api.executor", name="retraining_executor_2")
    run = seeded.wait_run(run_id)
    assert run["status"] == "finished" and run["new_version"] == 2, run


def test_a_killed_executor_leaves_a_failed_run_not_a_running_one(stack: Stack) -> None:
    seeded = seed(stack, production_rows=0)
    run_id = seeded.start_run(include=["lr", "dt"]).json()["id"]
    seeded.wait_run(run_id, ("running",), timeout=60)
    executor = _executor(stack)
    executor.proc.kill()
    executor.proc.wait(10)
    stack.components.remove(executor)
    stack.start_python("retraining_api.executor", name="retraining_executor_3")
    run = seeded.wait_run(run_id, timeout=90)  # stale after 6 s in this stack
    assert run["status"] == "failed", run
    assert "the executor stopped (no heartbeat" in run["error"] and run["finished_at"]
