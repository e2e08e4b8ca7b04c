"""One write per record per store: the worker stores a batch's rows, then writes its jobs once, in their final state;
a redelivered batch makes no second row and no second job, and counts as duplicates."""

from __future__ import annotations

import asyncio
import json

import httpx

from conveyor.job_ids import job_id_for
from tests.worker.conftest import Service, dead_letters, named, publish

DONE = ["received", "predicted", "stored", "finished"]


def _store_rows_directly(service: Service, records: list[dict]) -> None:
    """Rows an earlier delivery stored before it crashed, without writing their jobs."""
    rows = [{"date_time": r["timestamp"], **r["features"], "record_id": r["record_id"], "prediction": -1.0,
             "model_name": f"{service.name}_model", "model_version": 1, "service": service.name,
             "job_id": job_id_for(service.name, r["record_id"])} for r in records]
    response = httpx.post(f"{service.stack.ml_url}/ml_data_api/datasets/{service.dataset}/production/rows",
                          headers=service.headers, json={"rows": rows})
    assert response.status_code == 200 and response.json()["inserted"] == len(rows), response.text


def test_each_record_written_once_and_a_redelivered_batch_is_duplicates(service: Service) -> None:
    stored_before = [named(i, "pre") for i in range(10)]
    _store_rows_directly(service, stored_before)
    worker = service.start_worker("w1")
    bad = json.dumps({"record_id": "bad-1", "features": {"a": 1.0}}).encode()
    batch: list = [named(i) for i in range(50)] + [bad] + stored_before
    asyncio.run(publish(service.queue, batch))
    service.wait_for(lambda: service.job_total("finished") == 60 and service.job_total("failed") == 1,
                     what="60 finished jobs and 1 failed")

    jobs = {j["record_id"]: j for j in service.jobs()}
    rows = {r["record_id"]: r for r in service.rows()}
    assert len(rows) == 60 and len(jobs) == 61
    for record_id, job in jobs.items():
        assert job["id"] == job_id_for(service.name, record_id), "the id is the record's, on every delivery"
        at = [h["at"] for h in job["history"]]
        assert at == sorted(at)
    for i in range(50):
        job, row = jobs[f"r-{i}"], rows[f"r-{i}"]
        assert [h["status"] for h in job["history"]] == DONE
        assert row["job_id"] == job["id"] and job["result"] == row["prediction"]
        assert job["metadata"]["worker_id"] == "w1" and job["metadata"]["elapsed"] >= 0
    for i in range(10):  # the row an earlier delivery stored is kept; the job says this delivery did not store it
        job, row = jobs[f"pre-{i}"], rows[f"pre-{i}"]
        assert [h["status"] for h in job["history"]] == ["received", "predicted", "finished"]
        assert job["metadata"]["extra"]["row_stored_before"] is True and row["prediction"] == -1.0
    failed = jobs["bad-1"]
    assert [h["status"] for h in failed["history"]] == ["received", "failed"] and "missing" in failed["error"]
    assert service.metric(worker, 'worker_messages_total{outcome="finished"}') == 50
    assert service.metric(worker, 'worker_messages_total{outcome="duplicate"}') == 10

    # The same messages again, as after a crash between writing the jobs and acknowledging them.
    asyncio.run(publish(service.queue, batch))
    service.wait_for(lambda: service.metric(worker, 'worker_messages_total{outcome="duplicate"}') == 70
                     and service.metric(worker, 'worker_messages_total{outcome="failed"}') == 2,
                     what="the redelivered batch handled")
    assert service.counts()["production"] == 60, "no second row"
    assert service.job_total() == 61, "no second job"
    assert service.metric(worker, 'worker_messages_total{outcome="finished"}') == 50
    again = {j["record_id"]: j for j in service.jobs()}
    assert again["r-3"]["history"] == jobs["r-3"]["history"], "the first write stands"
    letters = asyncio.run(dead_letters(service.queue))
    assert len(letters) == 2 and all("missing" in str(m.headers["x-death-reason"]) for m in letters), \
        "a malformed message is dead-lettered on each delivery"
