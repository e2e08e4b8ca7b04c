from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient


def _jobs(n: int, service: str = "svc", prefix: str = "r") -> list[dict]:
    return [{"record_id": f"{prefix}{i}", "service": service, "status": "processing",
             "algorithm_name": "m", "algorithm_version": 1, "payload": {"features": {"t1": i}},
             "metadata": {"routing_key": "q", "worker_id": "w1"}} for i in range(n)]


def test_single_create_get_update(client: TestClient) -> None:
    job = client.post("/queue_manager/jobs", json=_jobs(1)[0])
    assert job.status_code == 201 and job.json()["existing"] is False
    job_id = job.json()["id"]
    r = client.patch(f"/queue_manager/jobs/{job_id}", json={"status": "finished", "result": 3.5})
    body = r.json()
    assert body["status"] == "finished" and body["result"] == 3.5
    assert [h["status"] for h in body["history"]] == ["processing", "finished"]
    assert body["metadata"]["worker_id"] == "w1" and body["metadata"]["end"]
    assert client.get(f"/queue_manager/jobs/{job_id}").json()["status"] == "finished"
    assert client.get("/queue_manager/jobs/000000000000000000000000").status_code == 404
    assert client.get("/queue_manager/jobs/not-an-id").status_code == 404


def test_bulk_create_is_idempotent_per_service_and_record(client: TestClient) -> None:
    first = client.post("/queue_manager/jobs/bulk", json={"jobs": _jobs(5)}).json()["jobs"]
    assert [j["record_id"] for j in first] == [f"r{i}" for i in range(5)]
    assert not any(j["existing"] for j in first)
    again = client.post("/queue_manager/jobs/bulk", json={"jobs": _jobs(7)}).json()["jobs"]
    assert [j["existing"] for j in again] == [True] * 5 + [False] * 2
    assert [j["id"] for j in again[:5]] == [j["id"] for j in first]
    other_service = client.post("/queue_manager/jobs/bulk", json={"jobs": _jobs(2, service="svc2")}).json()
    assert not any(j["existing"] for j in other_service["jobs"])
    assert client.get("/queue_manager/jobs", params={"service": "svc"}).json()["total"] == 7
    single = client.post("/queue_manager/jobs", json=_jobs(1)[0]).json()
    assert single["existing"] is True and single["id"] == first[0]["id"]


def test_repeats_within_one_batch_make_one_job(client: TestClient) -> None:
    jobs = _jobs(2) + _jobs(1)
    answer = client.post("/queue_manager/jobs/bulk", json={"jobs": jobs}).json()["jobs"]
    assert answer[0]["id"] == answer[2]["id"] and answer[2]["existing"] is True
    assert client.get("/queue_manager/jobs").json()["total"] == 2


def test_bulk_update_and_terminal_states_stay_terminal(client: TestClient) -> None:
    jobs = client.post("/queue_manager/jobs/bulk", json={"jobs": _jobs(4)}).json()["jobs"]
    updates = [{"id": j["id"], "status": "finished", "result": i, "metadata": {"elapsed": 0.01 * (i + 1)}}
               for i, j in enumerate(jobs[:3])]
    updates.append({"id": jobs[3]["id"], "status": "failed", "error": "feature t1: 'abc' is not a float"})
    result = client.patch("/queue_manager/jobs/bulk", json={"updates": updates}).json()
    assert result == {"matched": 4, "modified": 4, "missing": []}
    again = client.patch("/queue_manager/jobs/bulk", json={"updates": [
        {"id": jobs[0]["id"], "status": "processing"},
        {"id": "000000000000000000000000", "status": "finished"},
    ]}).json()
    assert again["matched"] == 0 and again["missing"] == ["000000000000000000000000"]
    stored = client.get(f"/queue_manager/jobs/{jobs[0]['id']}").json()
    assert stored["status"] == "finished" and stored["metadata"]["elapsed"] == 0.01
    assert stored["metadata"]["worker_id"] == "w1", "a partial metadata update keeps the rest"
    failed = client.get(f"/queue_manager/jobs/{jobs[3]['id']}").json()
    assert failed["status"] == "failed" and "not a float" in failed["error"]


def test_list_filters_and_pagination(client: TestClient) -> None:
    jobs = client.post("/queue_manager/jobs/bulk", json={"jobs": _jobs(25)}).json()["jobs"]
    finished = [{"id": j["id"], "status": "finished"} for j in jobs[:10]]
    client.patch("/queue_manager/jobs/bulk", json={"updates": finished})
    page = client.get("/queue_manager/jobs", params={"status": "finished", "limit": 4, "offset": 8}).json()
    assert page["total"] == 10 and len(page["jobs"]) == 2
    assert client.get("/queue_manager/jobs", params={"record_id": "r3"}).json()["jobs"][0]["record_id"] == "r3"
    future = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert client.get("/queue_manager/jobs", params={"since": future}).json()["total"] == 0
    assert client.get("/queue_manager/jobs", params={"until": future}).json()["total"] == 25
    assert client.get("/queue_manager/jobs", params={"limit": 5000}).status_code == 422
    assert client.get("/queue_manager/jobs", params={"status": "lost"}).status_code == 422


def test_stats_counts_throughput_and_percentiles(client: TestClient) -> None:
    jobs = client.post("/queue_manager/jobs/bulk", json={"jobs": _jobs(101)}).json()["jobs"]
    elapsed = [i / 100 for i in range(100)]  # 0.00 .. 0.99 s
    client.patch("/queue_manager/jobs/bulk", json={"updates": [
        {"id": j["id"], "status": "finished", "metadata": {"elapsed": e}} for j, e in zip(jobs, elapsed, strict=False)
    ]})
    client.post("/queue_manager/jobs", json={"record_id": "x", "service": "other"})
    stats = client.get("/queue_manager/jobs/stats", params={"service": "svc", "window_minutes": 5}).json()
    assert stats["counts"] == {"created": 0, "processing": 1, "finished": 100, "failed": 0}
    assert sum(p["count"] for p in stats["throughput_per_minute"]) == 100
    latency = stats["latency_seconds"]
    # From the fixed histogram buckets (queue_manager/job_minutes.py): within a bucket (0.4-0.5 s, 0.75-1 s) of exact.
    assert abs(latency["p50"] - 0.495) <= 0.1 and abs(latency["p99"] - 0.9801) <= 0.25
    overall = client.get("/queue_manager/jobs/stats").json()
    assert overall["counts"]["created"] == 1 and overall["service"] is None
    empty = client.get("/queue_manager/jobs/stats", params={"service": "none"}).json()
    assert empty["latency_seconds"] == {"p50": None, "p95": None, "p99": None}


def test_bulk_limits_are_422(client: TestClient) -> None:
    assert client.post("/queue_manager/jobs/bulk", json={"jobs": []}).status_code == 422
    assert client.post("/queue_manager/jobs/bulk", json={"jobs": [{"service": "s"}]}).status_code == 422
