"""A name no dataset can have is refused before it reaches a table or queue_manager's URL.

They were put unescaped into the URL to queue_manager: `%01` made httpx refuse the URL (500), and `fz%3Fx`
asked queue_manager for dataset `fz`, so ml_data_api answered (and stored rows) for another dataset.
"""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ml_data_api.main import create_app
from ml_data_api.settings import Settings
from tests.ml_data_api.conftest import row


@pytest.fixture
def looked_up(pg_url: str, api_token: str, read_token: str, fake_queue_manager: str) -> Iterator[TestClient]:
    """ml_data_api with a queue_manager to look unknown datasets up in (the read token by default)."""
    settings = Settings(database_url=pg_url, api_token=api_token, api_read_token=read_token,
                        queue_manager_url=fake_queue_manager, amqp_url="")
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {read_token}"}) as c:
        yield c


def _odd_names(known: str) -> list[str]:
    return ["%01", "%0A", f"{known}%3Fx", f"{known}%23x", f"{known}%0A", "%C3%A9t%C3%A9", "x" * 41]


@pytest.mark.parametrize("suffix", ["", "/counts", "/training/rows"])
def test_reads_of_a_name_no_dataset_can_have_are_422_with_the_rule(
    looked_up: TestClient, unique_name: str, suffix: str
) -> None:
    for name in _odd_names(unique_name):
        response = looked_up.get(f"/ml_data_api/datasets/{name}{suffix}")
        assert response.status_code in (404, 422), (name, response.text)
        assert "names" in response.json()["detail"], (name, response.json())


def test_writes_to_a_name_no_dataset_can_have_are_422_and_store_nothing(
    looked_up: TestClient, unique_name: str, api_token: str
) -> None:
    write = {"Authorization": f"Bearer {api_token}"}
    for name in _odd_names(unique_name):
        response = looked_up.post(f"/ml_data_api/datasets/{name}/training/rows", json={"rows": [row(1)]},
                                  headers=write)
        assert response.status_code in (404, 422), (name, response.text)
        assert looked_up.delete(f"/ml_data_api/datasets/{name}", headers=write).status_code in (404, 422)
    legacy = looked_up.post("/ml_data_api/insert_data/", headers=write,
                            json={"table_name": f"{unique_name}?x_training", "data": [row(1)]})
    assert legacy.status_code == 422 and "holds '?'" in legacy.json()["detail"], legacy.text
    # The dataset the odd names started with is untouched (it was made on the first lookup above, if at all).
    counts = looked_up.get(f"/ml_data_api/datasets/{unique_name}/counts")
    assert counts.status_code == 200 and counts.json()["training"] == 0
