"""Values MongoDB cannot keep are refused at the door with a sentence naming the field, not by the store.

An integer of 2^63 or more in a payload, an offset MongoDB's skip cannot take, a UTC offset outside +-15:59 and
a job over MongoDB's 16 MB document limit each reached the store (a 500, or a 422 from the safety net that named
no field).
"""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

JOBS = "/queue_manager/jobs"
TOO_BIG = 2**63


def _job(**fields: object) -> dict:
    return {"record_id": "r1", "service": "svc", **fields}


def _locs(response: httpx.Response) -> list[list]:
    return [e["loc"] for e in response.json()["errors"]]


@pytest.mark.parametrize(("where", "body", "loc"), [
    ("payload", _job(payload={"features": {"t1": TOO_BIG}}), ["body", "payload"]),
    ("payload", _job(payload=[1, -TOO_BIG - 1]), ["body", "payload"]),
    ("result", _job(result={"n": TOO_BIG}), ["body", "result"]),
    ("algorithm_version", _job(algorithm_version=TOO_BIG), ["body", "algorithm_version"]),
    ("metadata", _job(metadata={"extra": {"n": TOO_BIG}}), ["body", "metadata", "extra"]),
])
def test_an_integer_past_int64_is_422_naming_the_field(client: TestClient, where: str, body: dict,
                                                        loc: list) -> None:
    response = client.post(JOBS, json=body)
    assert response.status_code == 422, response.text
    assert _locs(response) == [loc]
    assert where.split("_")[0] in response.json()["detail"]
    assert client.get(JOBS).json()["total"] == 0


def test_bulk_create_and_update_refuse_it_too(client: TestClient) -> None:
    bulk = client.post(f"{JOBS}/bulk", json={"jobs": [_job(), _job(record_id="r2", payload={"x": TOO_BIG})]})
    assert bulk.status_code == 422 and _locs(bulk) == [["body", "jobs", 1, "payload"]]
    assert "-2^63..2^63-1" in bulk.json()["detail"]
    job_id = client.post(JOBS, json=_job()).json()["id"]
    update = client.patch(f"{JOBS}/{job_id}", json={"status": "finished", "result": TOO_BIG})
    assert update.status_code == 422 and _locs(update) == [["body", "result"]]
    assert client.get(f"{JOBS}/{job_id}").json()["status"] == "created"


def test_deep_nesting_is_refused(client: TestClient) -> None:
    deep: list = []
    for _ in range(40):
        deep = [deep]
    response = client.post(JOBS, json=_job(payload=deep))
    assert response.status_code == 422 and "nested more than 32 levels" in response.json()["detail"]


@pytest.mark.parametrize("offset", [10**9 + 1, 10**12, TOO_BIG])
def test_an_offset_past_the_bound_is_422(client: TestClient, offset: int) -> None:
    response = client.get(JOBS, params={"offset": offset})
    assert response.status_code == 422, response.text
    assert _locs(response) == [["query", "offset"]]
    assert client.get(JOBS, params={"offset": 10**9}).status_code == 200


def test_a_utc_offset_postgresql_and_the_platform_refuse_is_422(client: TestClient) -> None:
    response = client.get(JOBS, params={"since": "2024-01-01T00:00:00+22:00"})
    assert response.status_code == 422 and _locs(response) == [["query", "since"]]
    assert "-15:59..+15:59" in response.json()["detail"]
    job = client.post(JOBS, json=_job(metadata={"start": "2024-01-01T00:00:00+20:00"}))
    assert job.status_code == 422 and _locs(job) == [["body", "metadata", "start"]]
    assert client.get(JOBS, params={"since": "2024-01-01T00:00:00+02:00"}).status_code == 200


def test_a_job_over_mongodbs_document_limit_is_413(client: TestClient) -> None:
    big = "x" * (16 * 1024 * 1024 - 4096)  # within the request limit, over what a job may hold
    response = client.post(JOBS, json=_job(payload=big))
    assert response.status_code == 413, response.text[:300]
    assert "MB a job may hold" in response.json()["detail"]
    job_id = client.post(JOBS, json=_job(record_id="r2", payload="x" * (9 * 1024 * 1024))).json()["id"]
    grown = client.patch(f"{JOBS}/{job_id}", json={"status": "finished", "result": "y" * (9 * 1024 * 1024)})
    assert grown.status_code == 413, grown.text[:300]
    assert client.get(f"{JOBS}/{job_id}").json()["status"] == "created"
