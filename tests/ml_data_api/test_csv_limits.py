"""The CSV upload: bounded in bytes and rows, and refused with a sentence for what PostgreSQL or the dataset
cannot take (the test settings' MAX_UPLOAD_MB is 256 KB)."""

import dataclasses
from collections.abc import Iterator

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from conveyor.schemas.data import MAX_BATCH_ROWS
from ml_data_api.main import create_app
from ml_data_api.settings import Settings
from tests.ml_data_api.conftest import row


def _upload(client: TestClient, dataset: str, content: bytes, split: str = "training") -> httpx.Response:
    return client.post(f"/ml_data_api/datasets/{dataset}/{split}/csv", files={"file": ("rows.csv", content)})


def _csv(rows: list[dict]) -> bytes:
    return pd.DataFrame(rows).to_csv(index=False).encode()


def _counts(client: TestClient, dataset: str) -> dict:
    return client.get(f"/ml_data_api/datasets/{dataset}/counts").json()


def test_a_nul_in_a_csv_value_is_422_naming_the_line(client: TestClient, dataset: str) -> None:
    content = _csv([row(0), row(1), row(2, mode="m\x00x")])
    response = _upload(client, dataset, content)
    assert response.status_code == 422, response.text
    assert "NUL" in response.json()["detail"] and "line 4" in response.json()["detail"]
    assert _counts(client, dataset)["training"] == 0


def test_a_nul_in_the_header_or_a_utf16_file_is_422(client: TestClient, dataset: str) -> None:
    header_nul = _upload(client, dataset, _csv([row(0)]).replace(b"mode", b"mo\x00de", 1))
    assert header_nul.status_code == 422 and "line 1" in header_nul.json()["detail"]
    utf16 = _upload(client, dataset, _csv([row(0)]).decode().encode("utf-16"))
    assert utf16.status_code == 422 and "UTF-16" in utf16.json()["detail"]


def test_a_wrong_header_is_422_naming_the_column(client: TestClient, dataset: str) -> None:
    renamed = _upload(client, dataset, _csv([row(0)]).replace(b"count", b"amount", 1))
    detail = renamed.json()["detail"]
    assert renamed.status_code == 422 and "'amount'" in detail and "header" in detail, detail
    # A file without a header: its first row is read as one, and names no column of the dataset.
    headless = _upload(client, dataset, _csv([row(0), row(1)]).split(b"\n", 1)[1])
    assert headless.status_code == 422 and "header" in headless.json()["detail"]


def test_an_empty_file_or_a_header_alone_is_422(client: TestClient, dataset: str) -> None:
    empty = _upload(client, dataset, b"")
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    header_only = _upload(client, dataset, _csv([row(0)]).split(b"\n", 1)[0] + b"\n")
    assert header_only.status_code == 422 and "no rows" in header_only.json()["detail"]


def test_a_csv_over_the_limit_is_413_even_when_streamed(client: TestClient, dataset: str) -> None:
    big = _csv([row(i) for i in range(6000)])
    assert len(big) > 256 * 1024
    declared = _upload(client, dataset, big)
    assert declared.status_code == 413 and "MAX_UPLOAD_MB" in declared.json()["detail"]
    # Without a Content-Length (chunked), the body is cut off at the limit while it arrives.
    boundary = "conveyorboundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="rows.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n").encode() + big + f"\r\n--{boundary}--\r\n".encode()
    streamed = client.post(f"/ml_data_api/datasets/{dataset}/training/csv",
                           content=iter([body[i:i + 65536] for i in range(0, len(body), 65536)]),
                           headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert streamed.status_code == 413 and "MAX_UPLOAD_MB" in streamed.json()["detail"]
    assert _counts(client, dataset)["training"] == 0
    small = _upload(client, dataset, _csv([row(i) for i in range(100)]))
    assert small.json() == {"inserted": 100, "duplicates": 0, "duplicate_record_ids": []}


@pytest.fixture
def roomy(settings: Settings, api_token: str) -> Iterator[TestClient]:
    """Room in bytes for a CSV with more rows than one upload takes."""
    roomy = dataclasses.replace(settings, max_upload_bytes=4 * 1024 * 1024)
    with TestClient(create_app(roomy), headers={"Authorization": f"Bearer {api_token}"}) as c:
        yield c


def test_a_csv_with_more_rows_than_a_batch_is_413(roomy: TestClient, dataset: str) -> None:
    content = b"count\n" + b"1\n" * (MAX_BATCH_ROWS + 1)
    response = _upload(roomy, dataset, content)
    assert response.status_code == 413, response.text
    assert f"{MAX_BATCH_ROWS:,} rows" in response.json()["detail"] and "conveyor load" in response.json()["detail"]
