"""An unknown dataset is looked up in queue_manager (here a tiny real HTTP server)."""

from fastapi.testclient import TestClient

from ml_data_api.main import create_app
from ml_data_api.settings import Settings
from tests.ml_data_api.conftest import row


def test_schema_comes_from_queue_manager(
    pg_url: str, api_token: str, unique_name: str, fake_queue_manager: str
) -> None:
    settings = Settings(database_url=pg_url, api_token=api_token, queue_manager_url=fake_queue_manager, amqp_url="")
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {api_token}"}) as c:
        inserted = c.post(f"/ml_data_api/datasets/{unique_name}/training/rows", json={"rows": [row(1)]})
        assert inserted.json() == {"inserted": 1, "duplicates": 0, "duplicate_record_ids": []}
        missing = c.get("/ml_data_api/datasets/unknown_everywhere/counts")
        assert missing.status_code == 404 and "queue_manager" in missing.json()["detail"]


def test_queue_manager_down_is_503(pg_url: str, api_token: str, read_token: str) -> None:
    settings = Settings(database_url=pg_url, api_token=api_token, api_read_token=read_token,
                        queue_manager_url="http://127.0.0.1:1", amqp_url="")
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {read_token}"}) as c:
        response = c.get("/ml_data_api/datasets/whatever/counts")
        assert response.status_code == 503 and "unreachable" in response.json()["detail"]
