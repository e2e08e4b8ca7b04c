"""The platform's clients escape every path part: a name holding "?", "%", "/" or ".." asks for that name.

Put into the URL as it was, "roaster?x" asked for dataset "roaster" (the rest became a query string),
"roast%65r" was read as "roaster", ".." climbed to the parent path and "" asked for the list. These run the
real QueueManagerClient against queue_manager served by uvicorn (and its MongoDB-compatible store).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from conveyor.api.errors import NotFound, Unprocessable
from conveyor.clients import APIError, QueueManagerClient
from conveyor.clients.base import part
from conveyor.lookups import registered_dataset
from queue_manager.main import create_app
from queue_manager.models import DatasetDoc
from queue_manager.settings import Settings
from tests.queue_manager.conftest import DATASET
from tests.support import serve


class _Recording(httpx.AsyncBaseTransport):
    """A real HTTP transport that notes each URL's path as sent, bytes untouched."""

    def __init__(self) -> None:
        self._http = httpx.AsyncHTTPTransport()
        self.paths: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.raw_path)
        return await self._http.handle_async_request(request)

    async def aclose(self) -> None:
        await self._http.aclose()


@pytest.fixture
def qm_url(settings: Settings, api_token: str) -> Iterator[str]:
    """queue_manager served by uvicorn (which decodes a path once, as in production), with dataset roaster."""
    with serve(create_app(settings)) as url:
        created = httpx.post(f"{url}/queue_manager/datasets", json=DATASET,
                             headers={"Authorization": f"Bearer {api_token}"})
        assert created.status_code == 201, created.text
        yield url


def _ask(url: str, api_token: str, call: Callable[[QueueManagerClient], Awaitable[Any]]) -> tuple[Any, list[bytes]]:
    transport = _Recording()

    async def run() -> Any:
        async with QueueManagerClient(url, api_token, transport=transport) as qm:
            try:
                return await call(qm)
            except (APIError, NotFound, Unprocessable) as exc:
                return exc

    return asyncio.run(run()), transport.paths


@pytest.mark.parametrize(("name", "raw"), [
    ("roaster?x", b"/queue_manager/datasets/roaster%3Fx"),
    ("roast%65r", b"/queue_manager/datasets/roast%2565r"),
    ("roaster#x", b"/queue_manager/datasets/roaster%23x"),
    ("..", b"/queue_manager/datasets/%2E%2E"),
])
def test_a_name_asks_for_itself_not_another_dataset(qm_url: str, api_token: str, name: str, raw: bytes) -> None:
    answer, paths = _ask(qm_url, api_token, lambda qm: qm.get_dataset(name))
    assert paths == [raw]
    assert isinstance(answer, APIError) and answer.status_code == 404, answer
    assert repr(name) in answer.detail
    found, _ = _ask(qm_url, api_token, lambda qm: qm.get_dataset("roaster"))
    assert found.name == "roaster"


def test_a_slash_stays_inside_its_part(qm_url: str, api_token: str) -> None:
    _, paths = _ask(qm_url, api_token, lambda qm: qm.get_dataset("roaster/x"))
    assert paths == [b"/queue_manager/datasets/roaster%2Fx"]


def test_every_part_of_a_longer_path_is_escaped(qm_url: str, api_token: str) -> None:
    answer, paths = _ask(qm_url, api_token, lambda qm: qm.get_algorithm("m?x", "1?y"))
    assert paths == [b"/queue_manager/algorithms/m%3Fx/1%3Fy"]
    assert isinstance(answer, APIError) and answer.status_code in (404, 422)


def test_an_empty_name_is_refused_before_any_request(qm_url: str, api_token: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        part("")
    answer, paths = _ask(qm_url, api_token, lambda qm: registered_dataset(qm, ""))
    assert paths == [] and isinstance(answer, Unprocessable) and "empty" in answer.message


def test_the_lookup_of_an_unknown_name_is_404_with_that_name(qm_url: str, api_token: str) -> None:
    answer, _ = _ask(qm_url, api_token, lambda qm: registered_dataset(qm, "roaster?x"))
    assert isinstance(answer, NotFound) and "'roaster?x'" in answer.message


def test_a_422_keeps_its_problems_for_the_form(qm_url: str, api_token: str) -> None:
    answer, _ = _ask(qm_url, api_token, lambda qm: qm.list_jobs(offset=10**10))
    assert isinstance(answer, APIError) and answer.status_code == 422
    assert [e["loc"] for e in answer.errors] == [["query", "offset"]]


def test_a_dataset_stored_before_the_rules_does_not_hide_the_others(qm_url: str, api_token: str) -> None:
    DatasetDoc(name="x\n", schema={**DATASET, "name": "x\n"}).save()  # made before names were matched whole
    answer, _ = _ask(qm_url, api_token, lambda qm: qm.list_datasets())
    assert [d.name for d in answer] == ["roaster"]


def test_an_escaped_slash_never_reaches_another_route(qm_url: str, api_token: str) -> None:
    # uvicorn decodes %2F before routing, so "roaster%2Fcounts" would otherwise be read as roaster's sub-path.
    answer = httpx.get(f"{qm_url}/queue_manager/datasets/roaster%2Fx", headers={"Authorization": f"Bearer {api_token}"})
    assert answer.status_code == 422 and "%2F" in answer.json()["detail"], answer.text
