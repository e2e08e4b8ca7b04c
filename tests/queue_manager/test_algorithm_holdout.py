"""An algorithm's holdout window: the rows its registered metrics were scored on, kept with the version."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from conveyor.clients import QueueManagerClient
from conveyor.schemas.algorithms import HoldoutSplit, HoldoutWindow
from conveyor.schemas.datasets import DatasetSchema
from queue_manager.main import create_app
from queue_manager.models import AlgorithmDoc
from queue_manager.settings import Settings
from tests.queue_manager.conftest import DATASET, model_bytes, upload
from tests.support import serve


def test_the_typed_client_sends_the_holdout_and_reads_it_back(settings: Settings) -> None:
    window = HoldoutWindow(split=HoldoutSplit.production, service="svc", rows=300,
                           start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2026, 1, 2, 6, tzinfo=UTC))

    async def round_trip(url: str) -> None:
        async with QueueManagerClient(url, settings.api_token) as qm:
            await qm.create_dataset(DatasetSchema.model_validate(DATASET))
            uploaded = await qm.upload_algorithm(name="m", dataset="roaster", model=model_bytes(),
                                                 metrics={"MAE": 0.5}, holdout=window)
            assert uploaded.holdout == window
            assert (await qm.get_algorithm("m", 1)).holdout == window
            assert (await qm.upload_algorithm(name="m", dataset="roaster", model=model_bytes())).holdout is None

    with serve(create_app(settings)) as url:
        asyncio.run(round_trip(url))


def test_a_testing_holdout_round_trips_as_json(client: TestClient, dataset: dict) -> None:
    created = upload(client, holdout='{"split": "testing", "rows": 1200}')
    expected = {"split": "testing", "service": None, "start": None, "end": None, "rows": 1200}
    assert created["holdout"] == expected
    assert client.get("/queue_manager/algorithms/m/1").json()["holdout"] == expected
    assert client.get("/queue_manager/algorithms").json()[0]["holdout"] == expected


def test_a_bad_holdout_is_refused_with_a_sentence(client: TestClient, dataset: dict) -> None:
    cases = {
        "not json": "holdout must be a JSON object",
        '{"split": "training", "rows": 10}': "split",
        '{"split": "testing", "rows": 0}': "rows",
        '{"split": "production", "rows": 10}': "names its service",
        '{"split": "production", "service": "s", "rows": 10, "start": "2026-01-02T00:00:00Z", '
        '"end": "2026-01-01T00:00:00Z"}': "starts",
    }
    for text, expected in cases.items():
        response = client.post("/queue_manager/algorithms", data={"name": "m", "dataset": "roaster",
                                                                   "holdout": text},
                               files={"file": ("model.pkl", b"bytes", "application/octet-stream")})
        assert response.status_code == 422, (text, response.text)
        assert expected in response.json()["detail"], (text, response.json())
    assert client.get("/queue_manager/algorithms").json() == []  # nothing stored...
    assert upload(client)["version"] == 1  # ...and no version number used up


def test_a_record_from_before_the_field_reads_as_null(client: TestClient, dataset: dict) -> None:
    upload(client)
    AlgorithmDoc._get_collection().update_one({"name": "m", "version": 1}, {"$unset": {"holdout": ""}})
    assert "holdout" not in AlgorithmDoc._get_collection().find_one({"name": "m"})
    assert client.get("/queue_manager/algorithms/m/1").json()["holdout"] is None


def test_a_patch_replaces_metrics_and_the_holdout_they_were_scored_on(client: TestClient, dataset: dict) -> None:
    upload(client, metrics='{"MAE": 2.0}')
    patched = client.patch("/queue_manager/algorithms/m/1", json={
        "metrics": {"MAE": 1.0}, "holdout": {"split": "testing", "rows": 50}})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["metrics"], patched.json()["holdout"]["rows"]) == ({"MAE": 1.0}, 50)
    refused = client.patch("/queue_manager/algorithms/m/1", json={"holdout": {"split": "production", "rows": 5}})
    assert refused.status_code == 422 and "names its service" in refused.text
    assert client.get("/queue_manager/algorithms/m/1").json()["holdout"]["rows"] == 50
