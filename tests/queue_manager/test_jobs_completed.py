"""POST /queue_manager/jobs/completed: jobs written once, in their final state; and every path that makes a job
terminal counts it once into the per-minute aggregates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from pymongo import MongoClient

from conveyor.job_ids import job_id_for
from conveyor.schemas.jobs import MAX_COMPLETED_JOBS, JobsCompleted

URL = "/queue_manager/jobs/completed"
T0 = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)


def _at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def completed(record_id: str, service: str = "svc", status: str = "finished", **fields: object) -> dict:
    steps = ["received", "predicted", "stored", "finished"] if status == "finished" else ["received", "failed"]
    return {
        "id": job_id_for(service, record_id), "record_id": record_id, "service": service, "status": status,
        "algorithm_name": "m", "algorithm_version": 2, "payload": {"features": {"t1": 1.0}},
        "result": 4.5 if status == "finished" else None, "error": None if status == "finished" else "bad JSON",
        "metadata": {"worker_id": "w1", "elapsed": 0.02},
        "history": [{"status": s, "at": _at(0.01 * i)} for i, s in enumerate(steps)],
        **fields,
    }


def minute_counts(mongo_uri: str, service: str = "svc") -> dict[str, int]:
    """What the per-minute aggregates hold for the service, summed over its minutes and workers."""
    mongo: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    with mongo:
        docs = list(mongo.get_default_database()["job_minutes"].find({"service": service}))
    total: dict[str, int] = {}
    for doc in docs:
        for status, n in doc.get("counts", {}).items():
            total[status] = total.get(status, 0) + n
    return total


def test_first_write_wins_and_a_second_answers_the_stored_job(client: TestClient, mongo_uri: str) -> None:
    jobs = [completed("r1"), completed("r2"), completed("bad", status="failed")]
    first = client.post(URL, json={"jobs": jobs})
    assert first.status_code == 200, first.text
    refs = first.json()["jobs"]
    assert [r["id"] for r in refs] == [j["id"] for j in jobs], "the writer's ids are the jobs' ids"
    assert [(r["status"], r["existing"]) for r in refs] == [("finished", False)] * 2 + [("failed", False)]
    stored = client.get(f"/queue_manager/jobs/{refs[0]['id']}").json()
    assert [h["status"] for h in stored["history"]] == ["received", "predicted", "stored", "finished"]
    assert stored["result"] == 4.5 and stored["metadata"]["worker_id"] == "w1"
    assert datetime.fromisoformat(stored["created_at"]).replace(tzinfo=UTC) == T0, "created when received"
    assert stored["metadata"]["end"] and stored["metadata"]["elapsed"] == 0.02
    failed = client.get(f"/queue_manager/jobs/{refs[2]['id']}").json()
    assert [h["status"] for h in failed["history"]] == ["received", "failed"] and failed["error"] == "bad JSON"
    assert minute_counts(mongo_uri) == {"finished": 2, "failed": 1}

    # A redelivery: the same records again, one now claiming failure, plus a new one and a repeat within the call.
    again = [completed("r1", status="failed"), completed("r2", result=9.9), completed("r3"), completed("r3")]
    refs2 = client.post(URL, json={"jobs": again}).json()["jobs"]
    assert [(r["id"], r["status"], r["existing"]) for r in refs2[:2]] == [
        (refs[0]["id"], "finished", True), (refs[1]["id"], "finished", True)]
    assert [r["existing"] for r in refs2[2:]] == [False, True] and refs2[2]["id"] == refs2[3]["id"]
    assert client.get(f"/queue_manager/jobs/{refs[1]['id']}").json()["result"] == 4.5, "nothing changed"
    assert client.get("/queue_manager/jobs", params={"service": "svc"}).json()["total"] == 4
    assert minute_counts(mongo_uri) == {"finished": 3, "failed": 1}, "each job counted once"


@pytest.mark.parametrize(("change", "needle"), [
    ({"status": "processing"}, "is not final"),
    ({"status": "lost"}, "status"),
    ({"id": "not-a-job-id"}, "is not a job id"),
    ({"id": "0" * 23}, "24 hexadecimal digits"),
    ({"history": []}, "history"),
    ({"history": [{"status": "received", "at": _at(0)}, {"status": "failed", "at": _at(1)}]},
     "ends with 'failed', not with the job's status 'finished'"),
    ({"history": [{"status": "received", "at": _at(1)}, {"status": "finished", "at": _at(0)}]},
     "goes back in time"),
    ({"history": [{"status": "failed", "at": _at(0)}, {"status": "finished", "at": _at(1)}]},
     "before its end"),
    ({"history": [{"status": "eaten", "at": _at(0)}, {"status": "finished", "at": _at(1)}]}, "history.0.status"),
])
def test_bad_jobs_are_a_422_that_says_why(client: TestClient, change: dict, needle: str) -> None:
    response = client.post(URL, json={"jobs": [completed("ok"), completed("r", **change)]})
    assert response.status_code == 422, response.text
    assert needle in response.json()["detail"] and "jobs.1" in response.json()["detail"]
    assert client.get("/queue_manager/jobs").json()["total"] == 0, "nothing of a refused call is written"


def test_at_most_10000_jobs_a_call(client: TestClient) -> None:
    assert client.post(URL, json={"jobs": []}).status_code == 422
    JobsCompleted.model_validate({"jobs": [completed(f"r{i}") for i in range(MAX_COMPLETED_JOBS)]})  # passes
    with pytest.raises(ValidationError, match="at most 10000"):
        JobsCompleted.model_validate({"jobs": [completed(f"r{i}") for i in range(MAX_COMPLETED_JOBS + 1)]})
    too_many = client.post(URL, json={"jobs": [completed("r")] * (MAX_COMPLETED_JOBS + 1)})
    assert too_many.status_code == 422 and "at most 10000" in too_many.json()["detail"]


def test_an_id_held_by_another_records_job_is_a_409(client: TestClient) -> None:
    client.post(URL, json={"jobs": [completed("r1")]})
    taken = completed("r2", id=job_id_for("svc", "r1"))
    response = client.post(URL, json={"jobs": [completed("r3"), taken]})
    assert response.status_code == 409 and "job_id_for" in response.json()["detail"], response.text
    assert "'r2'" in response.json()["detail"]
    assert client.get("/queue_manager/jobs", params={"record_id": "r3"}).json()["total"] == 1, "the rest is kept"


def test_the_older_endpoints_count_each_job_once_when_it_becomes_terminal(client: TestClient, mongo_uri: str) -> None:
    base = {"service": "svc", "algorithm_name": "m", "algorithm_version": 1, "metadata": {"worker_id": "w1"}}
    client.post("/queue_manager/jobs", json={**base, "record_id": "done", "status": "finished"})
    client.post("/queue_manager/jobs", json={**base, "record_id": "done", "status": "finished"})  # existing
    open_one = client.post("/queue_manager/jobs", json={**base, "record_id": "one"}).json()
    created = client.post("/queue_manager/jobs/bulk", json={"jobs": [
        {**base, "record_id": f"b{i}", "status": "processing"} for i in range(3)
    ] + [{**base, "record_id": "bf", "status": "failed", "error": "x"}]}).json()["jobs"]
    assert minute_counts(mongo_uri) == {"finished": 1, "failed": 1}, "created terminal: counted; open: not"

    updates = [{"id": j["id"], "status": "finished", "metadata": {"elapsed": 0.1}} for j in created[:3]]
    client.patch("/queue_manager/jobs/bulk", json={"updates": updates + [{"id": created[3]["id"],
                                                                           "status": "finished"}]})
    client.patch("/queue_manager/jobs/bulk", json={"updates": updates})  # terminal stays terminal
    assert minute_counts(mongo_uri) == {"finished": 4, "failed": 1}, "only the jobs the PATCH closed"
    client.patch(f"/queue_manager/jobs/{open_one['id']}", json={"status": "failed", "error": "y"})
    client.patch(f"/queue_manager/jobs/{open_one['id']}", json={"status": "finished"})
    assert minute_counts(mongo_uri) == {"finished": 4, "failed": 2}
