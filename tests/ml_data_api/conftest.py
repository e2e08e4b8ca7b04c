from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from ml_data_api.main import create_app
from ml_data_api.settings import Settings
from tests.support import serve


def schema(name: str) -> dict:
    return {
        "name": name,
        "task": "regression",
        "features": [{"name": "T_data_1_1", "type": "float"}, {"name": "count", "type": "int"},
                     {"name": "mode", "type": "str"}, {"name": "on", "type": "bool"}],
        "target": "quality",
        "timestamp_column": "date_time",
    }


def row(i: int, month: int = 1, **extra: object) -> dict:
    return {"date_time": f"2021-{month:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00+00:00", "T_data_1_1": 200.5 + i,
            "count": i, "mode": f"m{i % 3}", "on": i % 2 == 0, "quality": 400.0 + i, **extra}


def prod(i: int, month: int = 1, **extra: object) -> dict:
    defaults = {"record_id": f"rec-{i}", "prediction": 401.0 + i, "model_name": "m", "model_version": 1,
                "job_id": f"job-{i}", "service": "svc"}
    r = row(i, month, **{**defaults, **extra})
    del r["quality"]
    return r


@pytest.fixture
def settings(pg_url: str, api_token: str, read_token: str) -> Settings:
    return Settings(database_url=pg_url, api_token=api_token, api_read_token=read_token, queue_manager_url="",
                    max_upload_bytes=256 * 1024)


@pytest.fixture
def client(settings: Settings, api_token: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {api_token}"}) as c:
        yield c


@pytest.fixture
def dataset(client: TestClient, unique_name: str) -> str:
    response = client.put(f"/ml_data_api/datasets/{unique_name}", json=schema(unique_name))
    assert response.status_code == 201, response.text
    return unique_name


@pytest.fixture
def fake_queue_manager(unique_name: str) -> Iterator[str]:
    """A tiny real queue_manager that knows one dataset, `unique_name`."""
    app = FastAPI()

    @app.get("/queue_manager/datasets/{name}")
    def get(name: str) -> dict:
        if name != unique_name:
            raise HTTPException(404, "not found")
        return {**schema(name), "created_at": "2021-01-01T00:00:00Z"}

    with serve(app) as url:
        yield url
