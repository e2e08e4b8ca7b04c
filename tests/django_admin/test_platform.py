"""The admin's way to the APIs: one client per API for the process, shared by every request's thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from fastapi import FastAPI, Request

from conveyor.clients.base import BaseClient
from django_admin.platform import ClientLoop
from tests.support import serve


def _api(release: threading.Event) -> FastAPI:
    app = FastAPI()

    @app.get("/caller")
    async def caller(request: Request) -> dict[str, Any]:
        assert request.client is not None
        return {"port": request.client.port, "token": request.headers.get("authorization")}

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        # Answers only once the test has seen its call time out, however long that takes.
        await asyncio.to_thread(release.wait, 60)
        return {}

    return app


def test_requests_from_many_threads_reuse_one_connection_and_a_slow_one_misses_only_its_deadline() -> None:
    release = threading.Event()
    with serve(_api(release)) as url:
        clients = ClientLoop({"SOME_API_URL": url, "API_TOKEN": "a-token"}.__getitem__)
        answers: list[dict[str, Any]] = []

        def ask() -> None:
            answers.append(clients.call(BaseClient, "SOME_API_URL", lambda c: c.json("GET", "/caller"), timeout=10))

        for _ in range(3):  # one after another, each from a thread of its own, as Django's requests come
            thread = threading.Thread(target=ask)
            thread.start()
            thread.join()
        assert len({a["port"] for a in answers}) == 1, f"a new connection per request: {answers}"
        assert answers[0]["token"] == "Bearer a-token"

        with pytest.raises(TimeoutError):
            clients.call(BaseClient, "SOME_API_URL", lambda c: c.json("GET", "/slow"), timeout=0.2)
        release.set()
        after = clients.call(BaseClient, "SOME_API_URL", lambda c: c.json("GET", "/caller"), timeout=10)
        assert after["token"] == "Bearer a-token"
        clients.close()
        again = clients.call(BaseClient, "SOME_API_URL", lambda c: c.json("GET", "/caller"), timeout=10)
        assert again["token"] == "Bearer a-token", "a closed loop starts again on the next call"
        clients.close()
