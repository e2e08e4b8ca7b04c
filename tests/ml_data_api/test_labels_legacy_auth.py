import pytest
from fastapi.testclient import TestClient

from ml_data_api.main import create_app
from ml_data_api.settings import Settings
from tests.ml_data_api.conftest import prod, row, schema


def test_labels_join_and_append_to_training(client: TestClient, dataset: str) -> None:
    client.post(f"/ml_data_api/datasets/{dataset}/production/rows", json={"rows": [prod(i) for i in range(5)]})
    response = client.post(f"/ml_data_api/datasets/{dataset}/labels", json={
        "labels": [{"record_id": "rec-0", "label": 11.5}, {"record_id": "rec-3", "label": 13},
                   {"record_id": "nobody", "label": 1}],
        "append_to_training": True,
    })
    assert response.json() == {"updated": 2, "unknown": ["nobody"], "appended_to_training": 2}
    rows = client.get(f"/ml_data_api/datasets/{dataset}/production/rows", params={"labeled": True}).json()["rows"]
    assert {r["record_id"]: r["label"] for r in rows} == {"rec-0": 11.5, "rec-3": 13.0}
    assert all(r["label_at"] for r in rows)
    training = client.get(f"/ml_data_api/datasets/{dataset}/training/rows").json()["rows"]
    assert sorted(r["quality"] for r in training) == [11.5, 13.0]
    assert {r["count"] for r in training} == {0, 3}
    assert client.get(f"/ml_data_api/datasets/{dataset}/counts").json() == {
        "training": 2, "testing": 0, "production": 5, "labeled": 2}


def test_mistyped_label_is_422(client: TestClient, dataset: str) -> None:
    response = client.post(f"/ml_data_api/datasets/{dataset}/labels",
                           json={"labels": [{"record_id": "rec-0", "label": "good"}]})
    assert response.status_code == 422 and "label" in response.json()["detail"]


def test_reference_insert_data(client: TestClient, dataset: str) -> None:
    response = client.post("/ml_data_api/insert_data/", json={"table_name": f"{dataset}_training", "data": [row(1)]})
    assert response.json() == {"inserted": 1, "duplicates": 0, "duplicate_record_ids": []}
    response = client.post("/ml_data_api/insert_data/",
                           json={"table_name": dataset, "split": "testing", "data": [row(1), row(2)]})
    assert response.json()["inserted"] == 2
    bad = client.post("/ml_data_api/insert_data/", json={"table_name": "nonsense", "data": [row(1)]})
    assert bad.status_code == 422 and "<dataset>_training" in bad.json()["detail"]


MUTATING = [
    ("PUT", "/ml_data_api/datasets/x"), ("DELETE", "/ml_data_api/datasets/x"),
    ("POST", "/ml_data_api/datasets/x/training/rows"), ("POST", "/ml_data_api/datasets/x/training/csv"),
    ("POST", "/ml_data_api/datasets/x/labels"), ("POST", "/ml_data_api/insert_data/"),
]


@pytest.mark.parametrize(("method", "path"), MUTATING)
def test_mutating_routes_need_the_token(client: TestClient, method: str, path: str) -> None:
    del client.headers["Authorization"]
    response = client.request(method, path, json={})
    assert response.status_code == 401 and "token" in response.json()["detail"]


def test_health_ready_metrics(client: TestClient) -> None:
    assert client.get("/health").json()["service"] == "ml_data_api"
    assert client.get("/ready").json()["checks"] == {"postgresql": "ok"}
    assert "http_request_duration_seconds" in client.get("/metrics").text


def test_ready_is_503_when_the_database_is_unreachable(api_token: str) -> None:
    settings = Settings(database_url="postgresql://postgres@127.0.0.1:1/x", api_token=api_token, queue_manager_url="")
    with TestClient(create_app(settings)) as c:
        response = c.get("/ready")
        assert response.status_code == 503 and "unreachable" in response.json()["checks"]["postgresql"]
        token = {"Authorization": f"Bearer {api_token}"}
        assert c.get("/ml_data_api/datasets/x/counts", headers=token).status_code == 503


def test_data_survives_an_app_restart(settings: Settings, api_token: str, unique_name: str) -> None:
    headers = {"Authorization": f"Bearer {api_token}"}
    with TestClient(create_app(settings), headers=headers) as c:
        c.put(f"/ml_data_api/datasets/{unique_name}", json=schema(unique_name))
        c.post(f"/ml_data_api/datasets/{unique_name}/production/rows", json={"rows": [prod(1)]})
    with TestClient(create_app(settings), headers=headers) as c:
        assert c.get(f"/ml_data_api/datasets/{unique_name}/counts").json()["production"] == 1
        again = c.post(f"/ml_data_api/datasets/{unique_name}/production/rows", json={"rows": [prod(1)]})
        assert again.json() == {"inserted": 0, "duplicates": 1, "duplicate_record_ids": ["rec-1"]}
