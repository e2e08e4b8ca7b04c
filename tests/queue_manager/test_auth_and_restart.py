import pytest
from fastapi.testclient import TestClient

from queue_manager.main import create_app
from queue_manager.settings import Settings
from tests.queue_manager.conftest import model_bytes, upload

MUTATING = [
    ("POST", "/queue_manager/datasets"),
    ("DELETE", "/queue_manager/datasets/roaster"),
    ("POST", "/queue_manager/algorithms"),
    ("PATCH", "/queue_manager/algorithms/m/1"),
    ("PATCH", "/queue_manager/algorithms/m/1/stage"),
    ("DELETE", "/queue_manager/algorithms/m/1"),
    ("POST", "/queue_manager/services"),
    ("PATCH", "/queue_manager/services/s"),
    ("DELETE", "/queue_manager/services/s"),
    ("POST", "/queue_manager/jobs"),
    ("POST", "/queue_manager/jobs/bulk"),
    ("PATCH", "/queue_manager/jobs/bulk"),
    ("PATCH", "/queue_manager/jobs/000000000000000000000000"),
]


@pytest.mark.parametrize(("method", "path"), MUTATING)
def test_mutating_routes_need_the_token(client: TestClient, method: str, path: str) -> None:
    del client.headers["Authorization"]
    response = client.request(method, path, json={})
    assert response.status_code == 401 and "token" in response.json()["detail"]
    response = client.request(method, path, json={}, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401


def test_everything_survives_a_restart(settings: Settings, api_token: str) -> None:
    headers = {"Authorization": f"Bearer {api_token}"}
    with TestClient(create_app(settings), headers=headers) as c:
        c.post("/queue_manager/datasets", json={"name": "roaster", "task": "regression",
                                                "features": [{"name": "a"}], "target": "y"})
        upload(c, content=(persisted := model_bytes(columns=["a"])))
        c.post("/queue_manager/services", json={"name": "s", "dataset": "roaster", "queue": "q",
                                                "algorithm": {"name": "m", "version": 1}})
        c.post("/queue_manager/jobs", json={"record_id": "r1", "service": "s"})
    with TestClient(create_app(settings), headers=headers) as c:
        assert c.get("/queue_manager/datasets/roaster").status_code == 200
        assert c.get("/queue_manager/algorithms/m/1/file").content == persisted
        assert c.get("/queue_manager/services/s").json()["algorithm"]["version"] == 1
        assert c.get("/queue_manager/jobs").json()["total"] == 1
        assert upload(c, content=model_bytes(1.0, columns=["a"]))["version"] == 2, "version counters survive too"
