import asyncio
import hashlib

import gridfs
from fastapi.testclient import TestClient
from mongoengine.connection import get_db

from conveyor.clients import QueueManagerClient
from conveyor.schemas.algorithms import AlgorithmPatch
from conveyor.schemas.datasets import DatasetSchema
from queue_manager.main import create_app
from queue_manager.settings import Settings
from tests.queue_manager.conftest import DATASET, model_bytes, upload
from tests.support import serve


def test_same_name_twice_gives_versions_1_and_2(client: TestClient, dataset: dict) -> None:
    one, two = model_bytes(1.0), model_bytes(2.0)
    first = upload(client, content=one, metrics='{"MAE": 0.5}', framework="sklearn")
    second = upload(client, content=two)
    assert (first["version"], second["version"]) == (1, 2)
    assert first["file"]["sha256"] == hashlib.sha256(one).hexdigest()
    assert second["file"]["sha256"] == hashlib.sha256(two).hexdigest()
    assert first["metrics"] == {"MAE": 0.5} and first["stage"] == "staging"
    assert [h["stage"] for h in first["stage_history"]] == ["staging"]
    assert upload(client, name="other")["version"] == 1


def test_download_matches_and_carries_checksum(client: TestClient, dataset: dict) -> None:
    content = model_bytes()
    upload(client, content=content)
    response = client.get("/queue_manager/algorithms/m/1/file")
    assert response.content == content
    assert response.headers["x-checksum-sha256"] == hashlib.sha256(content).hexdigest()
    assert client.get("/queue_manager/algorithms/m/latest").json()["version"] == 1


def test_config_file_round_trip(client: TestClient, dataset: dict) -> None:
    response = client.post(
        "/queue_manager/algorithms", data={"name": "m", "dataset": "roaster"},
        files={"file": ("model.pkl", model_bytes()), "config_file": ("config.pkl", b"cfg")},
    )
    assert response.status_code == 201 and response.json()["config_file"]["filename"] == "config.pkl"
    assert client.get("/queue_manager/algorithms/m/1/config").content == b"cfg"
    upload(client)
    assert client.get("/queue_manager/algorithms/m/2/config").status_code == 404


def test_corrupt_stored_file_is_detected(client: TestClient, dataset: dict) -> None:
    upload(client)
    fs = gridfs.GridFS(get_db(), collection="model_files")
    stored = fs.find_one({"filename": "model.pkl"})
    assert stored is not None
    get_db()["model_files.chunks"].update_one({"files_id": stored._id}, {"$set": {"data": b"tampered"}})
    response = client.get("/queue_manager/algorithms/m/1/file")
    assert response.status_code == 500 and "corrupt" in response.json()["detail"]


def test_oversized_upload_is_413(client: TestClient, dataset: dict) -> None:
    response = client.post(
        "/queue_manager/algorithms", data={"name": "big", "dataset": "roaster"},
        files={"file": ("model.pkl", b"x" * (2 * 1024 * 1024))},
    )
    assert response.status_code == 413 and "MAX_UPLOAD_MB" in response.json()["detail"]
    # Just over the limit but within the multipart slack: caught while reading the file.
    response = client.post(
        "/queue_manager/algorithms", data={"name": "big", "dataset": "roaster"},
        files={"file": ("model.pkl", b"x" * (64 * 1024 + 1))},
    )
    assert response.status_code == 413
    assert client.get("/queue_manager/algorithms", params={"name": "big"}).json() == []


def test_bad_uploads_are_4xx(client: TestClient, dataset: dict) -> None:
    cases = [
        ({"name": "m", "dataset": "nope"}, b"x", 404),
        ({"name": "m", "dataset": "roaster", "metrics": "{not json"}, b"x", 422),
        ({"name": "m", "dataset": "roaster", "metrics": "[1]"}, b"x", 422),
        ({"name": "bad name", "dataset": "roaster"}, b"x", 422),
        ({"name": "m", "dataset": "roaster", "stage": "live"}, b"x", 422),
        ({"name": "m", "dataset": "roaster"}, b"", 422),
    ]
    for data, content, status in cases:
        response = client.post("/queue_manager/algorithms", data=data, files={"file": ("f", content)})
        assert response.status_code == status, (data, response.text)
        assert response.json()["detail"]
    assert client.post("/queue_manager/algorithms", data={"name": "m"}).status_code == 422


def test_stage_changes_keep_history_and_archive_previous(client: TestClient, dataset: dict) -> None:
    upload(client)
    upload(client)
    r = client.patch("/queue_manager/algorithms/m/1/stage", json={"stage": "production", "by": "ana"})
    assert r.json()["stage"] == "production"
    r = client.patch("/queue_manager/algorithms/m/2/stage",
                     json={"stage": "production", "by": "bo", "reason": "better MAE"})
    history = r.json()["stage_history"]
    assert [h["stage"] for h in history] == ["staging", "production"]
    assert history[-1]["by"] == "bo" and history[-1]["reason"] == "better MAE"
    v1 = client.get("/queue_manager/algorithms/m/1").json()
    assert v1["stage"] == "archived" and [h["stage"] for h in v1["stage_history"]][-1] == "archived"
    assert client.get("/queue_manager/algorithms/m/production").json()["version"] == 2
    assert client.get("/queue_manager/algorithms", params={"stage": "archived"}).json()[0]["version"] == 1


def test_patch_metrics_and_lookups(client: TestClient, dataset: dict) -> None:
    upload(client)
    r = client.patch("/queue_manager/algorithms/m/1", json={"metrics": {"R2": 0.9}, "description": "d"})
    assert r.json()["metrics"] == {"R2": 0.9} and r.json()["description"] == "d"
    assert len(client.get("/queue_manager/algorithms/m").json()) == 1
    assert client.get("/queue_manager/algorithms/m/7").status_code == 404
    assert "known versions: [1]" in client.get("/queue_manager/algorithms/m/7").json()["detail"]
    assert client.get("/queue_manager/algorithms/m/seven").status_code == 422
    assert client.get("/queue_manager/algorithms/zzz").status_code == 404


def test_delete_refused_while_a_service_uses_it(client: TestClient, dataset: dict) -> None:
    upload(client)
    upload(client)
    client.post("/queue_manager/services", json={
        "name": "s", "dataset": "roaster", "queue": "q", "algorithm": {"name": "m", "version": 1},
        "challenger": {"name": "m", "version": 2}, "challenger_share": 0.1,
    })
    for version in (1, 2):
        response = client.delete(f"/queue_manager/algorithms/m/{version}")
        assert response.status_code == 409 and "s" in response.json()["detail"]
    client.patch("/queue_manager/services/s", json={"challenger": None})
    assert client.delete("/queue_manager/algorithms/m/2").status_code == 204
    assert client.get("/queue_manager/algorithms/m/2").status_code == 404


def test_reference_get_algorithms(client: TestClient, dataset: dict) -> None:
    upload(client)
    upload(client, name="n")
    listed = client.get("/queue_manager/get_algorithms").json()
    assert [(a["name"], a["version"]) for a in listed] == [("m", 1), ("n", 1)]


def test_the_typed_client_changes_only_the_fields_it_sends(settings: Settings) -> None:
    async def upload_then_patch(url: str) -> None:
        async with QueueManagerClient(url, settings.api_token) as qm:
            await qm.create_dataset(DatasetSchema.model_validate(DATASET))
            await qm.upload_algorithm(name="m", dataset="roaster", model=model_bytes(), metrics={"MAE": 0.5})
            patched = await qm.update_algorithm("m", 1, AlgorithmPatch(description="tuned"))
            assert (patched.description, patched.metrics) == ("tuned", {"MAE": 0.5})

    with serve(create_app(settings)) as url:
        asyncio.run(upload_then_patch(url))
