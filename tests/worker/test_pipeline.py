"""Records in, predictions and jobs out: the worker against the real stack."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest

from tests.worker.conftest import Service, dead_letters, named, publish


def test_records_in_rows_and_finished_jobs_out(service: Service) -> None:
    service.start_worker("w1")
    asyncio.run(publish(service.queue, [named(i) for i in range(300)]))
    service.wait_for(lambda: service.counts()["production"] == 300, what="300 rows")
    service.wait_for(lambda: len(service.jobs("finished")) == 300, what="300 finished jobs")
    rows = {r["record_id"]: r for r in service.rows()}
    assert len(rows) == 300
    assert rows["r-7"]["prediction"] == pytest.approx(7 + 2 - 0.5, abs=1e-6)
    assert {r["model_version"] for r in rows.values()} == {1}
    assert {r["model_name"] for r in rows.values()} == {f"{service.name}_model"}
    job = service.jobs("finished")[0]
    assert rows[job["record_id"]]["job_id"] == job["id"]
    assert job["metadata"]["worker_id"] == "w1" and job["metadata"]["elapsed"] >= 0
    assert job["result"] == pytest.approx(rows[job["record_id"]]["prediction"])


def test_positional_messages(service: Service) -> None:
    service.start_worker("w1")
    bodies = [{"data": [float(i), 1.0, 0.5]} for i in range(20)]
    asyncio.run(publish(service.queue, bodies, message_ids=[f"p-{i}" for i in range(20)]))
    service.wait_for(lambda: service.counts()["production"] == 20, what="20 rows")
    rows = {r["record_id"]: r for r in service.rows()}
    assert rows["p-3"]["prediction"] == pytest.approx(3 + 2 - 0.5, abs=1e-6)


def test_malformed_messages_fail_and_are_dead_lettered(service: Service) -> None:
    service.start_worker("w1")
    bad = [
        (b"{not json", "bad-json", "not valid JSON"),
        (json.dumps({"record_id": "bad-missing", "features": {"a": 1.0, "b": 2.0}}).encode(), None, "missing"),
        (json.dumps({"record_id": "bad-type", "features": {"a": "abc", "b": 1, "c": 2}}).encode(), None, "'abc'"),
        (json.dumps({"data": [1.0, 2.0]}).encode(), "bad-length", "has 2 values"),
    ]
    good = [named(i) for i in range(40)]
    bodies: list = good[:20] + [b for b, _, _ in bad] + good[20:]
    ids = [None] * 20 + [i for _, i, _ in bad] + [None] * 20
    asyncio.run(publish(service.queue, bodies, message_ids=ids))
    service.wait_for(lambda: service.counts()["production"] == 40, what="40 good rows")
    service.wait_for(lambda: len(service.jobs("failed")) == 4, what="4 failed jobs")
    failed = {j["record_id"]: j["error"] for j in service.jobs("failed")}
    for _, record_id, needle in bad:
        match = [e for r, e in failed.items() if (record_id and r == record_id) or needle in e]
        assert match and needle in match[0], (needle, failed)
    letters = asyncio.run(dead_letters(service.queue))
    assert len(letters) == 4
    assert all(m.headers["x-death-reason"] for m in letters)
    # Rows are stored before their jobs are marked finished: wait for both.
    service.wait_for(lambda: len(service.jobs("finished")) == 40, what="40 finished jobs")


def test_two_workers_share_the_queue(service: Service) -> None:
    service.start_worker("w1", BATCH_SIZE="20", PREFETCH="20")
    service.start_worker("w2", BATCH_SIZE="20", PREFETCH="20")
    service.wait_for(lambda: all("consuming" in service.stack.log_tail(w.name) for w in service.workers),
                     what="both workers consuming")
    asyncio.run(publish(service.queue, [named(i) for i in range(2000)]))
    service.wait_for(lambda: len(service.jobs("finished")) == 2000, timeout=120, what="2000 finished jobs")
    by_worker: dict[str, int] = {}
    for job in service.jobs("finished"):
        by_worker[job["metadata"]["worker_id"]] = by_worker.get(job["metadata"]["worker_id"], 0) + 1
    assert set(by_worker) == {"w1", "w2"}, by_worker
    assert service.counts()["production"] == 2000


def test_model_swap_mid_stream_loses_nothing(service: Service) -> None:
    service.start_worker("w1", BATCH_SIZE="50")
    asyncio.run(publish(service.queue, [named(i, "before") for i in range(500)]))
    version = service.upload(offset=100.0)
    service.assign(version)
    service.wait_for(lambda: "predicting with" in service.stack.log_tail(service.workers[0].name)
                     and f"v{version}" in service.stack.log_tail(service.workers[0].name), what="the swap")
    asyncio.run(publish(service.queue, [named(i, "after") for i in range(500)]))
    service.wait_for(lambda: service.counts()["production"] == 1000, what="1000 rows")
    rows = service.rows()
    after = [r for r in rows if r["record_id"].startswith("after")]
    assert {r["model_version"] for r in after} == {version}
    assert all(r["prediction"] > 90 for r in after), "the new model (offset 100) made them"
    service.wait_for(lambda: len(service.jobs("finished")) == 1000, what="1000 finished jobs")
    assert len(service.jobs("failed")) == 0


def test_sigkill_mid_batch_redelivers_without_loss_or_duplicates(service: Service) -> None:
    victim = service.start_worker("victim", BATCH_SIZE="500", BATCH_WAIT_MS="3000", PREFETCH="500")
    service.wait_for(lambda: "consuming" in service.stack.log_tail(victim.name), what="victim consuming")
    asyncio.run(publish(service.queue, [named(i) for i in range(300)]))
    # The victim holds the messages while it waits to fill its batch: kill it then.
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    service.start_worker("survivor")
    service.wait_for(lambda: len(service.jobs("finished")) == 300, what="300 finished jobs")
    rows = service.rows()
    assert len(rows) == 300 and len({r["record_id"] for r in rows}) == 300
    assert {j["metadata"]["worker_id"] for j in service.jobs("finished")} == {"survivor"}


def test_ml_data_api_outage_delays_but_loses_nothing(service: Service) -> None:
    stack = service.stack
    service.start_worker("w1", BATCH_SIZE="50")
    asyncio.run(publish(service.queue, [named(i, "pre") for i in range(100)]))
    service.wait_for(lambda: service.counts()["production"] == 100, what="first 100")
    ml = next(c for c in stack.components if c.name == "ml_data_api")
    stack.components.remove(ml)
    from conveyor_tools import devstack

    devstack.stop_process(ml.proc)
    asyncio.run(publish(service.queue, [named(i, "during") for i in range(300)]))
    service.wait_for(lambda: "store predictions" in stack.log_tail(service.workers[0].name), what="a retry")
    stack.start_python("ml_data_api", health=f"{stack.ml_url}/health")
    service.wait_for(lambda: service.counts()["production"] == 400, what="all 400 rows after the outage")
    service.wait_for(lambda: len(service.jobs("finished")) == 400, what="400 finished jobs")
    assert len(service.jobs("failed")) == 0


def test_sigterm_finishes_the_batch_in_hand(service: Service) -> None:
    worker = service.start_worker("w1", BATCH_SIZE="100", BATCH_WAIT_MS="50")
    service.wait_for(lambda: "consuming" in service.stack.log_tail(worker.name), what="consuming")
    asyncio.run(publish(service.queue, [named(i) for i in range(1000)]))
    service.wait_for(lambda: service.counts()["production"] > 0, what="some rows")
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(30) == 0
    assert "worker stopped" in service.stack.log_tail(worker.name)
    done = service.counts()["production"]
    finished = len(service.jobs("finished"))
    assert done == finished, "every stored row has its finished job: no half-done batch"
    service.start_worker("w2")
    service.wait_for(lambda: service.counts()["production"] == 1000, what="the rest by another worker")
    service.wait_for(lambda: len(service.jobs("finished")) == 1000, what="1000 finished jobs")
