"""A real queue_manager for tests of the components that read a dataset's schema from it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from queue_manager.main import create_app
from queue_manager.settings import Settings
from tests.support import serve


@contextmanager
def queue_manager(mongo_uri: str, api_token: str, amqp_url: str, events_exchange: str = "") -> Iterator[str]:
    """queue_manager on a free port, over the test's own database; yields its base URL.

    Its events go to `events_exchange`, by default one of its own."""
    settings = Settings(mongodb_uri=mongo_uri, api_token=api_token, amqp_url=amqp_url,
                        events_exchange=events_exchange or f"t_{uuid.uuid4().hex[:12]}.events")
    with serve(create_app(settings)) as url:
        yield url


def register(url: str, api_token: str, dataset: dict, service: dict | None = None) -> None:
    headers = {"Authorization": f"Bearer {api_token}"}
    httpx.post(f"{url}/queue_manager/datasets", headers=headers, json=dataset).raise_for_status()
    if service is not None:
        httpx.post(f"{url}/queue_manager/services", headers=headers, json=service).raise_for_status()
