import io
import threading

import httpx
import pandas as pd
from fastapi.testclient import TestClient

from tests.ml_data_api.conftest import prod, row


def _insert(client: TestClient, dataset: str, split: str, rows: list[dict]) -> httpx.Response:
    return client.post(f"/ml_data_api/datasets/{dataset}/{split}/rows", json={"rows": rows})


def test_typed_round_trip(client: TestClient, dataset: str) -> None:
    assert _insert(client, dataset, "testing", [row(i) for i in range(5)]).json() == {
        "inserted": 5, "duplicates": 0, "duplicate_record_ids": []}
    got = client.get(f"/ml_data_api/datasets/{dataset}/testing/rows").json()
    assert got["total"] == 5
    first = got["rows"][0]
    assert first["T_data_1_1"] == 200.5 and first["count"] == 0 and first["mode"] == "m0" and first["on"] is True
    assert first["date_time"] == "2021-01-01T00:00:00+00:00" and first["inserted_at"]


def test_csv_upload_and_csv_download(client: TestClient, dataset: str) -> None:
    frame = pd.DataFrame([row(i) for i in range(20)])
    content = frame.to_csv(index=False).encode()
    response = client.post(f"/ml_data_api/datasets/{dataset}/training/csv", files={"file": ("rows.csv", content)})
    assert response.json() == {"inserted": 20, "duplicates": 0, "duplicate_record_ids": []}
    text = client.get(f"/ml_data_api/datasets/{dataset}/training/rows", params={"format": "csv"}).text
    back = pd.read_csv(io.StringIO(text))
    assert len(back) == 20 and back["quality"].tolist() == frame["quality"].tolist()


def test_bad_input_is_422_and_stores_nothing(client: TestClient, dataset: str) -> None:
    good = [row(i) for i in range(3)]
    cases = {
        "missing feature": ([*good, {k: v for k, v in row(9).items() if k != "count"}], "count"),
        "mistyped float": ([*good, row(9, T_data_1_1="abc")], "'abc'"),
        "fractional int": ([*good, row(9, count=1.5)], "integer"),
        "bad bool": ([*good, row(9, on="maybe")], "true or false"),
        "bad time": ([*good, row(9, date_time="yesterday")], "ISO-8601"),
        "unknown column": ([*good, row(9, colour="red")], "colour"),
        "missing target": ([{k: v for k, v in row(1).items() if k != "quality"}], "quality"),
    }
    for name, (rows, needle) in cases.items():
        response = _insert(client, dataset, "training", rows)
        assert response.status_code == 422, name
        assert needle in response.json()["detail"], (name, response.json())
    assert client.get(f"/ml_data_api/datasets/{dataset}/counts").json()["training"] == 0
    production = _insert(client, dataset, "production", [{**prod(1), "record_id": None}])
    assert production.status_code == 422 and "record_id" in production.json()["detail"]
    assert _insert(client, dataset, "holdout", [row(1)]).status_code == 404
    assert client.post(f"/ml_data_api/datasets/{dataset}/training/rows", json={"rows": []}).status_code == 422


def test_oversized_and_unreadable_csv(client: TestClient, dataset: str) -> None:
    big = b"a,b\n" + b"1,2\n" * 100_000
    response = client.post(f"/ml_data_api/datasets/{dataset}/training/csv", files={"file": ("big.csv", big)})
    assert response.status_code == 413 and "MAX_UPLOAD_MB" in response.json()["detail"]
    response = client.post(f"/ml_data_api/datasets/{dataset}/training/csv", files={"file": ("e.csv", b"")})
    assert response.status_code == 422


def test_production_is_idempotent_on_record_id(client: TestClient, dataset: str) -> None:
    batch = [prod(i) for i in range(10)]
    assert _insert(client, dataset, "production", batch).json() == {
        "inserted": 10, "duplicates": 0, "duplicate_record_ids": []}
    assert _insert(client, dataset, "production", batch).json() == {
        "inserted": 0, "duplicates": 10, "duplicate_record_ids": [f"rec-{i}" for i in range(10)]}
    repeated = [prod(20), prod(20), prod(21), prod(3)]
    # rec-20 repeats within the call, which stores it once: not a record that was there before, as rec-3 is.
    assert _insert(client, dataset, "production", repeated).json() == {
        "inserted": 2, "duplicates": 2, "duplicate_record_ids": ["rec-3"]}
    assert client.get(f"/ml_data_api/datasets/{dataset}/counts").json()["production"] == 12


def test_concurrent_duplicates_make_one_row(client: TestClient, dataset: str) -> None:
    batch = [prod(i) for i in range(300)]
    results: list[dict] = []

    def send() -> None:
        results.append(_insert(client, dataset, "production", batch).json())

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["inserted"] for r in results) == 300
    assert sum(r["duplicates"] for r in results) == 600
    assert sorted(sum((r["duplicate_record_ids"] for r in results), [])) == sorted(
        [f"rec-{i}" for i in range(300)] * 2), "each record was there before for exactly two of the three calls"
    assert client.get(f"/ml_data_api/datasets/{dataset}/counts").json()["production"] == 300


def test_queries_by_window_last_and_pages(client: TestClient, dataset: str) -> None:
    _insert(client, dataset, "training", [row(i, month=m) for m in (1, 2, 3) for i in range(10)])
    url = f"/ml_data_api/datasets/{dataset}/training/rows"
    feb = client.get(url, params={"start": "2021-02-01T00:00:00Z", "end": "2021-03-01T00:00:00Z"}).json()
    assert feb["total"] == 10 and all(r["date_time"].startswith("2021-02") for r in feb["rows"])
    last = client.get(url, params={"last": 5}).json()
    assert last["total"] == 5 and all(r["date_time"].startswith("2021-03") for r in last["rows"])
    times = [r["date_time"] for r in last["rows"]]
    assert times == sorted(times)
    pages = [client.get(url, params={"limit": 7, "offset": o}).json()["rows"] for o in range(0, 30, 7)]
    assert sum(len(p) for p in pages) == 30
    assert len({(r["date_time"], r["count"]) for p in pages for r in p}) == 30
    assert client.get(url, params={"limit": 100_000}).status_code == 400
    assert client.get(url, params={"start": "2021-03-01T00:00:00Z", "end": "2021-02-01T00:00:00Z"}).status_code == 400
    assert client.get(url, params={"start": "not a time"}).status_code == 422


def test_production_filters(client: TestClient, dataset: str) -> None:
    _insert(client, dataset, "production", [prod(i) for i in range(6)] + [prod(7, service="other")])
    client.post(f"/ml_data_api/datasets/{dataset}/labels", json={"labels": [{"record_id": "rec-1", "label": 1}]})
    url = f"/ml_data_api/datasets/{dataset}/production/rows"
    assert client.get(url, params={"labeled": True}).json()["total"] == 1
    assert client.get(url, params={"labeled": False}).json()["total"] == 6
    assert client.get(url, params={"service": "other"}).json()["total"] == 1


def test_reproducible_sample_of_a_window(client: TestClient, dataset: str) -> None:
    _insert(client, dataset, "training", [row(i, month=m) for m in (1, 2) for i in range(50)])
    url = f"/ml_data_api/datasets/{dataset}/training/rows"
    first = client.get(url, params={"sample": 10, "start": "2021-02-01T00:00:00Z"}).json()
    again = client.get(url, params={"sample": 10, "start": "2021-02-01T00:00:00Z"}).json()
    assert first["total"] == 10 and first["rows"] == again["rows"]
    assert all(r["date_time"].startswith("2021-02") for r in first["rows"])
    times = [r["date_time"] for r in first["rows"]]
    assert times == sorted(times)
