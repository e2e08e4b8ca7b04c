"""Production rows say which role served them and carry a shadow prediction (issue 13)."""

import io
from typing import Any

import pandas as pd
import psycopg2
from fastapi.testclient import TestClient
from psycopg2 import sql

from ml_data_api import tables
from tests.ml_data_api.conftest import prod

NEW_COLUMNS = ("model_role", "shadow_prediction", "shadow_model_name", "shadow_model_version")


def _insert(client: TestClient, dataset: str, rows: list[dict]) -> dict:
    response = client.post(f"/ml_data_api/datasets/{dataset}/production/rows", json={"rows": rows})
    assert response.status_code == 200, response.text
    return response.json()


def _rows(client: TestClient, dataset: str) -> dict[str, dict]:
    page = client.get(f"/ml_data_api/datasets/{dataset}/production/rows").json()
    return {r["record_id"]: r for r in page["rows"]}


def test_rows_with_and_without_the_new_columns(client: TestClient, dataset: str) -> None:
    shadow: dict[str, Any] = {"model_role": "champion", "shadow_prediction": 7.5, "shadow_model_name": "ch",
              "shadow_model_version": 3}
    assert _insert(client, dataset, [prod(0), prod(1, model_role="challenger", model_name="ch"),
                                     prod(2, **shadow)]) == {"inserted": 3, "duplicates": 0, "duplicate_record_ids": []}
    got = _rows(client, dataset)
    assert {c: got["rec-0"][c] for c in NEW_COLUMNS} == dict.fromkeys(NEW_COLUMNS)  # old writers: all NULL
    assert got["rec-1"]["model_role"] == "challenger" and got["rec-1"]["shadow_prediction"] is None
    assert {c: got["rec-2"][c] for c in NEW_COLUMNS} == shadow
    text = client.get(f"/ml_data_api/datasets/{dataset}/production/rows", params={"format": "csv"}).text
    back = pd.read_csv(io.StringIO(text)).set_index("record_id")
    assert back.loc["rec-2", "shadow_prediction"] == 7.5 and back.loc["rec-1", "model_role"] == "challenger"


def test_bad_model_role_is_422_and_stores_nothing(client: TestClient, dataset: str) -> None:
    response = client.post(f"/ml_data_api/datasets/{dataset}/production/rows",
                           json={"rows": [prod(0), prod(1, model_role="boss")]})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "model_role" in detail and "'boss'" in detail and "champion" in detail and "row 1" in detail
    bad_version = client.post(f"/ml_data_api/datasets/{dataset}/production/rows",
                              json={"rows": [prod(0, shadow_model_version="v2")]})
    assert bad_version.status_code == 422 and "shadow_model_version" in bad_version.json()["detail"]
    assert client.get(f"/ml_data_api/datasets/{dataset}/counts").json()["production"] == 0


def test_a_table_made_before_the_columns_is_migrated_once(client: TestClient, dataset: str, pg_url: str) -> None:
    _insert(client, dataset, [prod(0)])
    name = tables.table_name(dataset, "production")
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:  # the table as an older version made it
        for column in NEW_COLUMNS:
            cur.execute(sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(sql.Identifier(name), sql.Identifier(column)))
    conn.close()
    tables.forget_current(dataset)  # a process started after the upgrade has not seen it yet
    # A read first: the old rows come back with the new columns empty.
    assert _rows(client, dataset)["rec-0"]["model_role"] is None
    assert dataset in tables._current
    assert _insert(client, dataset, [prod(1, model_role="challenger", shadow_model_version=2)])["inserted"] == 1
    got = _rows(client, dataset)
    assert got["rec-1"]["model_role"] == "challenger" and got["rec-1"]["shadow_model_version"] == 2
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s",
                    (name,))
        types = dict(cur.fetchall())
    conn.close()
    assert types["shadow_prediction"] == "double precision" and types["shadow_model_version"] == "bigint"
