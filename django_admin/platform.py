"""The admin's one way to the platform: queue_manager, ml_data_api, monitoring_api and retraining_api.

Django views are synchronous and every request may run on another thread; the async clients
live instead on one event loop of their own, in a thread started with the first call, one
client per API for the whole process, so connection pools are reused across requests
(closed when the process exits). Each call waits for its answer with its own deadline.
An API's 4xx becomes `PlatformError` with its message (and a 422's problems, each with where it is, for the
forms to put on their fields), an unreachable API one that says which service is down, so views can show
either as an admin message. The admin sends the write token (API_TOKEN), which also passes every read: an
API refusing it (401, or 403 for a read-only token) is a sentence about the admin's setting, not a 500.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from django.conf import settings

from conveyor.clients import (
    APIError,
    APIUnavailable,
    MLDataClient,
    MonitoringClient,
    QueueManagerClient,
    RetrainingClient,
)
from conveyor.clients.base import BaseClient
from conveyor.clients.rabbitmq_management import QueueDepth, RabbitMQManagementClient, shown
from django_admin.refusals import clean

T = TypeVar("T")
Client = TypeVar("Client", bound=BaseClient)
# The clients' own limit is the longest any call may take (a model upload); each call's
# deadline, below it, is the one a person waits for.
HTTP_TIMEOUT = 300.0


class PlatformError(Exception):
    """Something a person can act on: the API's own message, or which service is down.

    `errors`: a 422's problems as the API lists them (`{"loc": [...], "msg": "..."}`), empty otherwise.
    """

    def __init__(self, message: str, status_code: int | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.errors = errors or []


def _run(loop: asyncio.AbstractEventLoop) -> None:
    try:
        loop.run_forever()
    finally:
        loop.close()


class ClientLoop:
    """The event loop the admin's clients live on, and the clients, one per (kind, API).

    `conf` answers a setting by name: an API's URL (e.g. QUEUE_MANAGER_URL) and API_TOKEN.
    """

    def __init__(self, conf: Callable[[str], Any]) -> None:
        self._conf = conf
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Lock()
        self._clients: dict[tuple[type[BaseClient], str], BaseClient] = {}  # touched on the loop's thread only
        atexit.register(self.close)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._started:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=_run, args=(loop,), name="platform-clients", daemon=True).start()
                self._loop = loop
            return self._loop

    def _client(self, client_class: type[Client], url_key: str) -> Client:
        key = (client_class, url_key)
        if key not in self._clients:
            self._clients[key] = client_class(self._conf(url_key), self._conf("API_TOKEN"), timeout=HTTP_TIMEOUT)
        return cast(Client, self._clients[key])  # the key holds the client's class

    def call(self, client_class: type[Client], url_key: str, fn: Callable[[Client], Awaitable[T]],
             timeout: float) -> T:
        async def run() -> T:
            return await fn(self._client(client_class, url_key))

        future = asyncio.run_coroutine_threadsafe(run(), self._running_loop())
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        """Close the clients and stop the loop; a later call starts both again."""
        with self._started:
            loop, self._loop = self._loop, None
        if loop is None:
            return

        async def close_all() -> None:
            for client in self._clients.values():
                await client.aclose()
            self._clients.clear()

        asyncio.run_coroutine_threadsafe(close_all(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)


_clients = ClientLoop(lambda key: settings.CONVEYOR[key])


def _detail(detail: Any) -> str:
    if isinstance(detail, list):  # FastAPI's own validation errors, from an API without Conveyor's handlers
        return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {clean(str(e.get('msg')))}"
                         for e in detail)
    return clean(str(detail))


def _problems(exc: APIError) -> list[dict[str, Any]]:
    # `errors` is the 422 body's list where the client keeps it; a client that keeps only `detail` gives none.
    errors = getattr(exc, "errors", None)
    if not errors and isinstance(exc.detail, list):
        errors = exc.detail
    return [e for e in errors or [] if isinstance(e, dict)]


def refused_token(name: str, status_code: int) -> str:
    """Why an API refused the admin's token, and which setting to change."""
    if status_code == 403:
        return (f"{name} lets the admin's token read but not change anything (403): the admin is read-only until "
                "its API_TOKEN is the platform's write token, not the read token (API_READ_TOKEN)")
    return (f"{name} refused the admin's token (401): set the admin's API_TOKEN to the platform's write token; "
            f"until then the admin can neither show nor change anything held by {name}")


def _call(client_class: type[Client], url_key: str, fn: Callable[[Client], Awaitable[T]], timeout: float) -> T:
    name = url_key.removesuffix("_URL").lower()
    try:
        return _clients.call(client_class, url_key, fn, timeout)
    except APIError as exc:
        if exc.status_code in (401, 403):
            raise PlatformError(refused_token(name, exc.status_code), exc.status_code) from exc
        raise PlatformError(_detail(exc.detail), exc.status_code, _problems(exc)) from exc
    except APIUnavailable as exc:
        raise PlatformError(f"{name} is unreachable or failed ({exc}); try again in a moment") from exc
    except concurrent.futures.TimeoutError as exc:
        raise PlatformError(f"{name} did not answer within {timeout:g} s; try again in a moment") from exc


def qm(fn: Callable[[QueueManagerClient], Awaitable[T]], timeout: float = 60) -> T:
    return _call(QueueManagerClient, "QUEUE_MANAGER_URL", fn, timeout)


def ml(fn: Callable[[MLDataClient], Awaitable[T]], timeout: float = 60) -> T:
    return _call(MLDataClient, "ML_DATA_API_URL", fn, timeout)


def retraining(fn: Callable[[RetrainingClient], Awaitable[T]], timeout: float = 60) -> T:
    return _call(RetrainingClient, "RETRAINING_API_URL", fn, timeout)


def monitoring(fn: Callable[[MonitoringClient], Awaitable[T]], timeout: float = 120) -> T:
    return _call(MonitoringClient, "MONITORING_API_URL", fn, timeout)


# Each API's client, by the setting holding its URL: `health` asks /ready through the same client (and pool).
CLIENT_OF_URL: dict[str, type[BaseClient]] = {
    "QUEUE_MANAGER_URL": QueueManagerClient, "ML_DATA_API_URL": MLDataClient,
    "MONITORING_API_URL": MonitoringClient, "RETRAINING_API_URL": RetrainingClient,
}


def rabbitmq_queues(timeout: float = 3.0) -> list[QueueDepth]:
    """The service queues from RabbitMQ's management API (RABBITMQ_MANAGEMENT_URL), through the admin's one client
    of it; PlatformError says why not (the URL shown without its password)."""
    url = str(settings.CONVEYOR.get("RABBITMQ_MANAGEMENT_URL") or "")
    try:
        return _clients.call(RabbitMQManagementClient, "RABBITMQ_MANAGEMENT_URL",
                             lambda client: client.service_queues(), timeout)
    except APIError as exc:
        raise PlatformError(f"RabbitMQ's management API at {shown(url)} refused the request ({exc.status_code}): "
                            "check the user and password in RABBITMQ_MANAGEMENT_URL", exc.status_code) from exc
    except APIUnavailable as exc:
        raise PlatformError(f"RabbitMQ's management API at {shown(url)} is not reachable ({exc})") from exc
    except concurrent.futures.TimeoutError as exc:
        raise PlatformError(f"RabbitMQ's management API at {shown(url)} did not answer within {timeout:g} s") from exc


def health(url_key: str, timeout: float = 2.0) -> dict[str, Any]:
    """A service's /ready answer, or why it is not ready."""
    async def get(client: BaseClient) -> Any:
        return await client.json("GET", "/ready")

    try:
        return _call(CLIENT_OF_URL.get(url_key, BaseClient), url_key, get, timeout)
    except PlatformError as exc:
        return {"status": "down", "error": exc.message}
