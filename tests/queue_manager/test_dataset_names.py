"""Dataset, feature and column names are refused where the dataset is made, with a sentence per field.

A name matched with `re.match` and `$` let "x\\n" through: the dataset and its PostgreSQL tables were made,
and it could never be read again. A name longer than PostgreSQL keeps (with the split suffixes ml_data_api
adds) would have been cut short by PostgreSQL.
"""

from __future__ import annotations

from contextlib import closing

import psycopg2
import pytest
from fastapi.testclient import TestClient

from conveyor.schemas.datasets import DatasetSchema
from conveyor.schemas.names import LONGEST_DATASET_SUFFIX, MAX_DATASET_NAME, PG_IDENTIFIER_BYTES
from ml_data_api.tables import create_tables, drop_tables
from queue_manager.models import DatasetDoc
from tests.queue_manager.conftest import DATASET

DATASETS = "/queue_manager/datasets"


@pytest.mark.parametrize("field", ["name", "target", "timestamp_column"])
def test_a_trailing_line_break_is_refused(client: TestClient, field: str) -> None:
    response = client.post(DATASETS, json={**DATASET, field: "x\n"})
    assert response.status_code == 422, response.text
    body = response.json()
    assert "line break" in body["detail"]
    assert [e["loc"] for e in body["errors"]] == [["body", field]]
    assert client.get(DATASETS).json() == []


def test_a_feature_named_with_a_line_break_is_refused_by_position(client: TestClient) -> None:
    body = {**DATASET, "features": [{"name": "t1"}, {"name": "h\n"}]}
    response = client.post(DATASETS, json=body)
    assert response.status_code == 422, response.text
    problem = response.json()["errors"][0]
    assert problem["loc"] == ["body", "features", 1, "name"]
    assert problem["msg"].startswith("feature 2: names start with a letter or _ and hold only letters, digits and _")
    assert "line break" in problem["msg"]


def test_the_form_reads_sentences_not_pydantic(client: TestClient) -> None:
    body = {**DATASET, "features": [{"name": "t1"}, {"name": "2x"}, {"name": "T1", "type": "complex"}]}
    response = client.post(DATASETS, json=body)
    assert response.status_code == 422
    answer = response.json()
    assert "errors.pydantic.dev" not in response.text and "Value error" not in response.text
    by_loc = {tuple(e["loc"]): e["msg"] for e in answer["errors"]}
    assert by_loc[("body", "features", 1, "name")] == (
        "feature 2: names start with a letter or _ and hold only letters, digits and _; '2x' starts with a digit")
    assert by_loc[("body", "features", 2, "type")] == "feature 3's type: use one of 'float', 'int', 'str' or 'bool'"
    assert all(msg in answer["detail"] for msg in by_loc.values())


def test_repeated_features_and_clashing_columns_name_their_positions(client: TestClient) -> None:
    repeated = client.post(DATASETS, json={**DATASET, "features": [{"name": "a"}, {"name": "b"}, {"name": "A"}]})
    assert repeated.status_code == 422
    assert repeated.json()["errors"][0]["loc"] == ["body", "features"]
    assert "features 1 and 3 are both named 'A'" in repeated.json()["detail"]
    clash = client.post(DATASETS, json={**DATASET, "target": "h"})
    assert clash.status_code == 422
    assert clash.json()["errors"][0]["loc"] == ["body", "target"]
    assert clash.json()["detail"] == "target: the target 'h' is also feature 2: a column is one or the other"


def test_a_name_too_long_for_postgresql_is_refused_saying_what_fits(client: TestClient) -> None:
    response = client.post(DATASETS, json={**DATASET, "name": "a" * (MAX_DATASET_NAME + 1)})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert f"at most {MAX_DATASET_NAME} characters" in detail and "PostgreSQL" in detail
    assert client.post(DATASETS, json={**DATASET, "name": "a" * MAX_DATASET_NAME}).status_code == 201


def test_the_longest_name_keeps_every_table_and_index_name_whole(pg_url: str) -> None:
    """The bound against the real thing: PostgreSQL would silently cut a name past 63 bytes."""
    schema = DatasetSchema.model_validate({**DATASET, "name": "n" * MAX_DATASET_NAME})
    with closing(psycopg2.connect(pg_url)) as conn, conn, conn.cursor() as cur:
        create_tables(cur, schema, timescale=False)
        cur.execute("SELECT relname FROM pg_class WHERE starts_with(relname, %s)", (schema.name,))
        names = {row[0] for row in cur.fetchall()}
        drop_tables(cur, schema.name)
    # The names ml_data_api chooses, whole (PostgreSQL shortens the ones it makes up itself, and keeps them unique).
    chosen = {f"{schema.name}_{split}{suffix}" for split in ("training", "testing", "production")
              for suffix in ("", "_default", "_ts_brin")}
    chosen |= {f"{schema.name}_production{suffix}" for suffix in ("_ids", "_record_id", "_service")}
    assert chosen <= names, sorted(chosen - names)
    assert max(len(n) for n in chosen) == len(schema.name + LONGEST_DATASET_SUFFIX) <= PG_IDENTIFIER_BYTES


def test_a_dataset_stored_before_the_rules_is_listed_and_can_be_deleted(client: TestClient, dataset: dict) -> None:
    """Made before names were matched whole: it must not fail the list (a 500 hiding every dataset)."""
    DatasetDoc(name="x\n", schema={**DATASET, "name": "x\n"}).save()
    listed = client.get(DATASETS)
    assert listed.status_code == 200 and [d["name"] for d in listed.json()] == ["roaster", "x\n"]
    assert client.get(f"{DATASETS}/x%0A").json()["name"] == "x\n"
    assert client.delete(f"{DATASETS}/x%0A").status_code == 204
    assert [d["name"] for d in client.get(DATASETS).json()] == ["roaster"]
