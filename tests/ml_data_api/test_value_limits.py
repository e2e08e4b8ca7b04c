"""Values a column cannot hold are refused with a sentence naming the row, the column and the rule (they were
500s, or a store's error message, before)."""

import json

import httpx
import pytest
from fastapi.testclient import TestClient

from conveyor.schemas.data import MAX_BATCH_ROWS
from tests.ml_data_api.conftest import prod, row

INT64_RANGE = "-9223372036854775808..9223372036854775807"


def _insert_raw(client: TestClient, dataset: str, split: str, rows_json: str) -> httpx.Response:
    """The body as written: JSON numbers such as 1e400 that a client library would not send."""
    return client.post(f"/ml_data_api/datasets/{dataset}/{split}/rows", content=f'{{"rows": {rows_json}}}',
                       headers={"Content-Type": "application/json"})


def _rows_with(column: str, raw: str) -> str:
    """Two good rows as JSON text, the second with `column` set to `raw` (JSON text) as written."""
    good = row(1)
    text = json.dumps([row(0), good])
    at = text.rindex(f'"{column}": {json.dumps(good[column])}')
    return text[:at] + f'"{column}": {raw}' + text[at + len(f'"{column}": {json.dumps(good[column])}'):]


def _counts(client: TestClient, dataset: str) -> dict:
    return client.get(f"/ml_data_api/datasets/{dataset}/counts").json()


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**64, 10**30, 1e30, "1e30", "99999999999999999999"])
def test_an_int_feature_outside_bigint_is_422_naming_the_feature(client: TestClient, dataset: str,
                                                                 value: object) -> None:
    response = client.post(f"/ml_data_api/datasets/{dataset}/training/rows",
                           json={"rows": [row(0), row(1, count=value)]})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "row 1" in detail and "'count'" in detail and INT64_RANGE in detail, detail
    assert _counts(client, dataset)["training"] == 0


def test_the_ends_of_bigint_are_stored_exactly(client: TestClient, dataset: str) -> None:
    rows = [row(0, count=2**63 - 1), row(1, count=-(2**63)), row(2, count=str(2**62 + 1))]
    assert client.post(f"/ml_data_api/datasets/{dataset}/training/rows", json={"rows": rows}).status_code == 200
    stored = client.get(f"/ml_data_api/datasets/{dataset}/training/rows").json()["rows"]
    assert sorted(r["count"] for r in stored) == [-(2**63), 2**62 + 1, 2**63 - 1]


def test_an_integer_beyond_float64_is_422_not_an_overflow(client: TestClient, dataset: str) -> None:
    huge = "1" + "0" * 400
    for column in ("count", "T_data_1_1"):
        response = _insert_raw(client, dataset, "training", _rows_with(column, huge))
        assert response.status_code == 422 and f"'{column}'" in response.json()["detail"], response.text


def test_an_infinite_float_is_422(client: TestClient, dataset: str) -> None:
    # 1e400 is valid JSON and parses as infinity, which no JSON answer could carry back.
    response = _insert_raw(client, dataset, "training", _rows_with("T_data_1_1", "1e400"))
    assert response.status_code == 422, response.text
    assert "'T_data_1_1'" in response.json()["detail"] and "finite" in response.json()["detail"]


def test_text_postgresql_cannot_store_is_422_naming_the_column(client: TestClient, dataset: str) -> None:
    # A lone surrogate is valid JSON ("\ud800") but not UTF-8.
    response = _insert_raw(client, dataset, "training", _rows_with("mode", '"a\\ud800"'))
    assert response.status_code == 422 and "'mode'" in response.json()["detail"], response.text
    nested = client.post(f"/ml_data_api/datasets/{dataset}/training/rows", json={"rows": [row(0, mode={"a": 1})]})
    assert nested.status_code == 422 and "not an object or a list" in nested.json()["detail"]


def test_ids_longer_than_200_characters_are_422(client: TestClient, dataset: str) -> None:
    response = client.post(f"/ml_data_api/datasets/{dataset}/production/rows",
                           json={"rows": [prod(0, record_id="r" * 201)]})
    assert response.status_code == 422, response.text
    assert "'record_id'" in response.json()["detail"] and "200 characters" in response.json()["detail"]
    assert client.post(f"/ml_data_api/datasets/{dataset}/production/rows",
                       json={"rows": [prod(0, record_id="r" * 200)]}).json()["inserted"] == 1


def test_a_label_beyond_float64_is_422_naming_the_label(client: TestClient, dataset: str) -> None:
    client.post(f"/ml_data_api/datasets/{dataset}/production/rows", json={"rows": [prod(0)]})
    body = '{"labels": [{"record_id": "rec-0", "label": 1' + "0" * 400 + "}]}"
    response = client.post(f"/ml_data_api/datasets/{dataset}/labels", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and "'label'" in response.json()["detail"], response.text


@pytest.mark.parametrize("offset", ["+22:00", "-16:00"])
def test_a_row_window_with_an_offset_postgresql_refuses_is_422(client: TestClient, dataset: str,
                                                               offset: str) -> None:
    for param in ("start", "end"):
        response = client.get(f"/ml_data_api/datasets/{dataset}/training/rows",
                              params={param: f"2021-01-01T00:00:00{offset}"})
        assert response.status_code == 422, response.text
        assert "-15:59..+15:59" in response.json()["detail"] and param in response.json()["detail"]
    # Within PostgreSQL's range, an offset is read as the moment it names.
    response = client.get(f"/ml_data_api/datasets/{dataset}/training/rows",
                          params={"start": "2021-01-01T00:00:00+15:59"})
    assert response.status_code == 200


@pytest.mark.parametrize("param", ["offset", "last", "sample", "limit"])
def test_window_sizes_have_an_upper_bound(client: TestClient, dataset: str, param: str) -> None:
    response = client.get(f"/ml_data_api/datasets/{dataset}/training/rows", params={param: 2**63})
    assert response.status_code == 422, response.text
    assert param in response.json()["detail"] and "1000000000" in response.json()["detail"]


def test_the_reference_insert_url_caps_the_rows_of_a_batch(client: TestClient, dataset: str) -> None:
    response = client.post("/ml_data_api/insert_data/",
                           json={"table_name": f"{dataset}_training", "data": [{}] * (MAX_BATCH_ROWS + 1)})
    assert response.status_code == 422 and f"at most {MAX_BATCH_ROWS}" in response.json()["detail"]
