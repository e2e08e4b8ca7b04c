import asyncio

import psycopg2
import pytest
from fastapi.testclient import TestClient

from conveyor.clients import APIError, MLDataClient
from ml_data_api.main import create_app
from ml_data_api.settings import Settings
from tests.ml_data_api.conftest import row, schema
from tests.support import serve


def test_register_is_idempotent_and_conflicts_are_409(client: TestClient, dataset: str) -> None:
    again = client.put(f"/ml_data_api/datasets/{dataset}", json=schema(dataset))
    assert again.status_code == 200 and again.json()["created"] is False
    changed = {**schema(dataset), "target": "other"}
    conflict = client.put(f"/ml_data_api/datasets/{dataset}", json=changed)
    assert conflict.status_code == 409 and "target" in conflict.json()["detail"]
    mismatch = client.put(f"/ml_data_api/datasets/{dataset}x", json=schema(dataset))
    assert mismatch.status_code == 422 and "URL" in mismatch.json()["detail"]
    assert dataset in [d["name"] for d in client.get("/ml_data_api/datasets").json()]
    assert client.get(f"/ml_data_api/datasets/{dataset}").json()["target"] == "quality"


def test_invalid_names_are_refused(client: TestClient) -> None:
    for name in ("bad-name", "x" * 41, "1abc"):
        response = client.put(f"/ml_data_api/datasets/{name}", json=schema(name))
        assert response.status_code == 422, name
    body = schema("okname")
    body["features"] = [{"name": 'a"; DROP TABLE x; --'}]
    assert client.put("/ml_data_api/datasets/okname", json=body).status_code == 422


def test_unknown_dataset_is_404_with_a_hint(client: TestClient) -> None:
    response = client.get("/ml_data_api/datasets/never_registered/counts")
    assert response.status_code == 404 and "POST /queue_manager/datasets" in response.json()["detail"]
    assert client.get("/ml_data_api/datasets/never_registered/cooking/rows").status_code == 404


def test_tables_are_partitioned_with_brin_and_monthly_partitions(
    client: TestClient, dataset: str, settings: Settings
) -> None:
    client.post(f"/ml_data_api/datasets/{dataset}/training/rows",
                json={"rows": [row(1, month=1), row(2, month=3), row(3, month=3)]})
    with psycopg2.connect(settings.database_url) as conn, conn.cursor() as cur:
        for split in ("training", "testing", "production"):
            cur.execute("SELECT relkind FROM pg_class WHERE relname = %s", (f"{dataset}_{split}",))
            assert cur.fetchone()[0] == "p"
            cur.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", (f"{dataset}_{split}",))
            assert any("brin" in r[0] for r in cur.fetchall())
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s ORDER BY 1", (f"{dataset}_training",))
        partitions = [r[0] for r in cur.fetchall()]
        assert partitions == [f"{dataset}_training_default", f"{dataset}_training_p202101",
                              f"{dataset}_training_p202103"]
        cur.execute(f'SELECT count(*) FROM "{dataset}_training_default"')
        assert cur.fetchone()[0] == 0


def test_odd_but_valid_identifiers_are_quoted(client: TestClient, unique_name: str) -> None:
    name = f"Select_{unique_name}"
    body = {"name": name, "task": "classification", "features": [{"name": "order"}, {"name": "From", "type": "str"}],
            "target": "group", "timestamp_column": "time"}
    assert client.put(f"/ml_data_api/datasets/{name}", json=body).status_code == 201
    inserted = client.post(f"/ml_data_api/datasets/{name}/training/rows",
                           json={"rows": [{"time": "2020-01-01T00:00:00Z", "order": 1.5, "From": "x", "group": "a"}]})
    assert inserted.json() == {"inserted": 1, "duplicates": 0, "duplicate_record_ids": []}
    rows = client.get(f"/ml_data_api/datasets/{name}/training/rows").json()["rows"]
    assert rows[0]["order"] == 1.5 and rows[0]["group"] == "a"


def test_delete_drops_the_tables(client: TestClient, dataset: str, settings: Settings) -> None:
    assert client.delete(f"/ml_data_api/datasets/{dataset}").json() == {"deleted": dataset}
    with psycopg2.connect(settings.database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_class WHERE relname LIKE %s", (f"{dataset}%",))
        assert cur.fetchone()[0] == 0
    assert client.get(f"/ml_data_api/datasets/{dataset}/counts").status_code == 404


def test_the_typed_client_reads_and_deletes_a_dataset(settings: Settings, dataset: str) -> None:
    async def read_then_delete(url: str) -> None:
        async with MLDataClient(url, settings.api_token) as ml:
            assert (await ml.get_dataset(dataset)).feature_names == ["T_data_1_1", "count", "mode", "on"]
            await ml.delete_dataset(dataset)
            with pytest.raises(APIError) as gone:
                await ml.delete_dataset(dataset)
            assert gone.value.status_code == 404

    with serve(create_app(settings)) as url:
        asyncio.run(read_then_delete(url))
