from __future__ import annotations

import io
from collections.abc import Iterator, Sequence

import joblib
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LinearRegression

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


def model_bytes(offset: float = 0.0, columns: Sequence[str] = ("t1", "h")) -> bytes:
    """A fitted model for the dataset's columns, as joblib: what the upload's check accepts (an offset: other bytes)."""
    x = pd.DataFrame(np.arange(20.0 * len(columns)).reshape(20, len(columns)), columns=list(columns))
    buffer = io.BytesIO()
    joblib.dump(LinearRegression().fit(x, x.sum(axis=1) + offset), buffer)
    return buffer.getvalue()


def upload(client: TestClient, name: str = "m", dataset: str = "roaster", content: bytes | None = None,
           **fields: str) -> dict:
    response = client.post(
        "/queue_manager/algorithms",
        data={"name": name, "dataset": dataset, **fields},
        files={"file": ("model.pkl", model_bytes() if content is None else content, "application/octet-stream")},
    )
    assert response.status_code == 201, response.text
    return response.json()
