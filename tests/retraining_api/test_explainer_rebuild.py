"""rebuild=true is a read (the read token may ask for it), so it must not multiply work: a build already queued or
running is left alone, and only a finished or failed one is queued again."""

from __future__ import annotations

import uuid

from conveyor.pg import Database
from conveyor_tools.stack import Stack
from retraining_api.store import RunStore


def test_a_rebuild_of_a_build_in_progress_queues_nothing(stack: Stack) -> None:
    db = Database(stack.database_url, 1)
    store = RunStore(db)
    key = f"test-rebuild-{uuid.uuid4().hex[:8]}"
    args = (key, "no_such_model", 1, "testing", 40)
    try:
        # A build some executor holds (a fresh heartbeat, so no sweep takes it over during the test).
        db.run("INSERT INTO retraining_explainers (key, model_name, version, evaluate_on, rows, status, executor, "
               "heartbeat_at) VALUES (%s, %s, %s, %s, %s, 'running', 'test-holder', now())", args)
        for _ in range(3):
            assert store.request_explainer(*args, rebuild=True)["status"] == "running"
        held = db.one("SELECT status, executor FROM retraining_explainers WHERE key = %s", (key,))
        assert held == {"status": "running", "executor": "test-holder"}, "the running build was not requeued"
        store.finish_explainer(key, "<html></html>", None)
        assert store.request_explainer(*args, rebuild=False)["html"] == "<html></html>"
        assert store.request_explainer(*args, rebuild=True)["status"] == "queued", "a finished build is rebuilt"
    finally:
        db.run("DELETE FROM retraining_explainers WHERE key = %s", (key,))
        db.close()
