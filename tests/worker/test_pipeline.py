"""Records in, predictions and jobs out: the worker against the real stack."""

from __future__ import annotations

import asyncio
import json
import signal

import httpx
import pytest

from conveyor.job_ids import job_id_for
from tests.worker.conftest import Service, dead_letters, named, publish

DONE = ["received", "predicted", "stored", "finished"]
FINISHED = 'worker_messages_total{outcome="finished"}'
DUPLICATE = 'worker_messages_total{outcome="duplicate"}'
FAILED = 'worker_messages_total{outcome="failed"}'


def _store_rows_directly(service: Service, records: list[dict]) -> None:
    """Rows an earlier delivery stored before it crashed, without writing their jobs."""
    rows = [{"date_time": r["timestamp"], **r["features"], "record_id": r["record_id"], "prediction": -1.0,
             "model_name": f"{service.name}_model", "model_version": 1, "service": service.name,
             "job_id": job_id_for(service.name, r["record_id"])} for r in records]
    response = httpx.post(f"{service.stack.ml_url}/ml_data_api/datasets/{service.dataset}/production/rows",
                          headers=service.headers, json={"rows": rows})
    assert response.status_code == 200 and response.json()["inserted"] == len(rows), response.text


def test_records_in_rows_and_finished_jobs_out(service: Service) -> None:
    stored_before = [named(i, "pre") for i in range(10)]
    _store_rows_directly(service, stored_before)
    worker = service.start_worker("w1")
    asyncio.run(publish(service.queue, [named(i) for i in range(300)] + stored_before))
    service.wait_for(lambda: service.job_total("finished") == 310, what="310 finished jobs")
    rows = {r["record_id"]: r for r in service.rows()}
    assert len(rows) == 310
    assert rows["r-7"]["prediction"] == pytest.approx(7 + 2 - 0.5, abs=1e-6)
    assert {r["model_version"] for r in rows.values()} == {1}
    assert {r["model_name"] for r in rows.values()} == {f"{service.name}_model"}
    jobs = {j["record_id"]: j for j in service.jobs()}
    assert len(jobs) == 310
    for i in range(300):  # each written once, final, with its whole history; its id is its record's
        job, row = jobs[f"r-{i}"], rows[f"r-{i}"]
        assert [h["status"] for h in job["history"]] == DONE
        assert job["id"] == row["job_id"] == job_id_for(service.name, f"r-{i}")
        assert job["metadata"]["worker_id"] == "w1" and job["metadata"]["elapsed"] >= 0
        assert job["result"] == pytest.approx(row["prediction"])
    at = [h["at"] for h in jobs["r-7"]["history"]]
    assert at == sorted(at)
    for i in range(10):  # the row an earlier delivery stored is kept; the job says this delivery did not store it
        job, row = jobs[f"pre-{i}"], rows[f"pre-{i}"]
        assert [h["status"] for h in job["history"]] == ["received", "predicted", "finished"]
        assert job["metadata"]["extra"]["row_stored_before"] is True and row["prediction"] == -1.0
    # Counted once acknowledged, a moment after the jobs are written.
    service.wait_for(lambda: service.metric(worker, FINISHED) == 300 and service.metric(worker, DUPLICATE) == 10,
                     what="300 finished and 10 duplicates counted")


def test_positional_messages(service: Service) -> None:
    service.start_worker("w1")
    bodies = [{"data": [float(i), 1.0, 0.5]} for i in range(20)]
    asyncio.run(publish(service.queue, bodies, message_ids=[f"p-{i}" for i in range(20)]))
    service.wait_for(lambda: service.counts()["production"] == 20, what="20 rows")
    rows = {r["record_id"]: r for r in service.rows()}
    assert rows["p-3"]["prediction"] == pytest.approx(3 + 2 - 0.5, abs=1e-6)


def test_malformed_messages_fail_and_are_dead_lettered(service: Service) -> None:
    worker = service.start_worker("w1")
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
    service.wait_for(lambda: len(service.jobs("finished")) == 40, what="40 finished jobs")
    assert all([h["status"] for h in j["history"]] == ["received", "failed"] for j in service.jobs("failed"))

    # The same messages again, as after a crash between writing the jobs and acknowledging them: no second row,
    # no second job, the valid ones counted as duplicates; a malformed message is dead-lettered on every delivery.
    finished_jobs = {j["id"]: j["history"] for j in service.jobs("finished")}
    asyncio.run(publish(service.queue, bodies, message_ids=ids))
    service.wait_for(lambda: service.metric(worker, DUPLICATE) == 40 and service.metric(worker, FAILED) == 8,
                     what="the redelivered messages handled")
    assert service.counts()["production"] == 40 and service.job_total() == 44
    assert service.metric(worker, FINISHED) == 40
    assert {j["id"]: j["history"] for j in service.jobs("finished")} == finished_jobs, "the first write stands"
    assert len(asyncio.run(dead_letters(service.queue))) == 4


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
