from fastapi.testclient import TestClient

from tests.queue_manager.conftest import DATASET, upload


def test_create_list_get(client: TestClient, dataset: dict) -> None:
    assert dataset["name"] == "roaster" and dataset["target_type"] == "float"
    assert [d["name"] for d in client.get("/queue_manager/datasets").json()] == ["roaster"]
    got = client.get("/queue_manager/datasets/roaster").json()
    assert [f["name"] for f in got["features"]] == ["t1", "h"]
    assert got["features"][1]["type"] == "int"


def test_duplicate_is_409(client: TestClient, dataset: dict) -> None:
    response = client.post("/queue_manager/datasets", json=DATASET)
    assert response.status_code == 409 and "already exists" in response.json()["detail"]


def test_unknown_is_404_with_hint(client: TestClient) -> None:
    response = client.get("/queue_manager/datasets/nope")
    assert response.status_code == 404 and "POST /queue_manager/datasets" in response.json()["detail"]


def test_invalid_names_and_types_are_422(client: TestClient) -> None:
    for body in (
        {**DATASET, "name": "bad name; drop"},
        {**DATASET, "features": [{"name": "x y"}]},
        {**DATASET, "features": [{"name": "a", "type": "complex"}]},
        {**DATASET, "features": [{"name": "a"}, {"name": "A"}]},
        {**DATASET, "target": "t1"},
        {**DATASET, "task": "clustering"},
        {**DATASET, "features": []},
    ):
        response = client.post("/queue_manager/datasets", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"]


def test_delete_refused_while_used(client: TestClient, dataset: dict) -> None:
    upload(client)
    client.post("/queue_manager/services", json={"name": "s", "dataset": "roaster", "queue": "q"})
    response = client.delete("/queue_manager/datasets/roaster")
    assert response.status_code == 409 and "'s'" not in response.json()["detail"]
    assert "s" in response.json()["detail"]
    assert client.delete("/queue_manager/services/s").status_code == 204
    response = client.delete("/queue_manager/datasets/roaster")
    assert response.status_code == 409 and "algorithm" in response.json()["detail"]
    assert client.delete("/queue_manager/algorithms/m/1").status_code == 204
    assert client.delete("/queue_manager/datasets/roaster").status_code == 204
    assert client.get("/queue_manager/datasets/roaster").status_code == 404
