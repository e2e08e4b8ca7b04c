from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from queue_manager.main import create_app
from queue_manager.settings import Settings

DATASET = {
    "name": "roaster",
    "task": "regression",
    "features": [{"name": "t1", "type": "float"}, {"name": "h", "type": "int"}],
    "target": "quality",
}


@pytest.fixture
def settings(mongo_uri: str, api_token: str, read_token: str, amqp_url: str, unique_name: str) -> Settings:
    return Settings(
        mongodb_uri=mongo_uri, api_token=api_token, api_read_token=read_token, amqp_url=amqp_url,
        events_exchange=f"{unique_name}.events", max_upload_bytes=64 * 1024,
    )


@pytest.fixture
def client(settings: Settings, api_token: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {api_token}"}) as c:
        yield c


@pytest.fixture
def dataset(client: TestClient) -> dict:
    response = client.post("/queue_manager/datasets", json=DATASET)
    assert response.status_code == 201, response.text
    return response.json()


def upload(client: TestClient, name: str = "m", dataset: str = "roaster", content: bytes = b"model-bytes",
           **fields: str) -> dict:
    response = client.post(
        "/queue_manager/algorithms",
        data={"name": name, "dataset": dataset, **fields},
        files={"file": ("model.pkl", content, "application/octet-stream")},
    )
    assert response.status_code == 201, response.text
    return response.json()
