"""The admin's one way to the platform: queue_manager, ml_data_api, monitoring_api and retraining_api.

Django views are synchronous; the shared async clients run here under `async_to_sync`.
An API's 4xx becomes `PlatformError` with its message, an unreachable API one that says
which service is down, so views can show either as an admin message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from asgiref.sync import async_to_sync
from django.conf import settings

from conveyor.clients import APIError, APIUnavailable, MLDataClient, QueueManagerClient, RetrainingClient
from conveyor.clients.base import BaseClient

T = TypeVar("T")
C = TypeVar("C", bound=BaseClient)


class PlatformError(Exception):
    """Something a person can act on: the API's own message, or which service is down."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def _conf(key: str) -> Any:
    return settings.CONVEYOR[key]


def _detail(detail: Any) -> str:
    if isinstance(detail, list):  # FastAPI's validation errors
        return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg')}" for e in detail)
    return str(detail)


def _call(client_class: type[C], url_key: str, fn: Callable[[C], Awaitable[T]], timeout: float = 60) -> T:
    async def run() -> T:
        async with client_class(_conf(url_key), _conf("API_TOKEN"), timeout=timeout) as client:
            return await fn(client)

    name = url_key.removesuffix("_URL").lower()
    try:
        return async_to_sync(run)()
    except APIError as exc:
        raise PlatformError(_detail(exc.detail), exc.status_code) from exc
    except APIUnavailable as exc:
        raise PlatformError(f"{name} is unreachable or failed ({exc}); try again in a moment") from exc


def qm(fn: Callable[[QueueManagerClient], Awaitable[T]], timeout: float = 60) -> T:
    return _call(QueueManagerClient, "QUEUE_MANAGER_URL", fn, timeout)


def ml(fn: Callable[[MLDataClient], Awaitable[T]], timeout: float = 60) -> T:
    return _call(MLDataClient, "ML_DATA_API_URL", fn, timeout)


def retraining(fn: Callable[[RetrainingClient], Awaitable[T]], timeout: float = 60) -> T:
    return _call(RetrainingClient, "RETRAINING_API_URL", fn, timeout)


def monitoring(path: str, params: dict[str, Any] | None = None, timeout: float = 120) -> Any:
    """monitoring_api has no typed client yet: its JSON (or HTML) as it answers."""
    async def get(client: BaseClient) -> Any:
        response = await client.request("GET", path, params={k: v for k, v in (params or {}).items()
                                                             if v not in (None, "")})
        return response.json() if response.headers.get("content-type", "").startswith("application/json") \
            else response.text

    return _call(BaseClient, "MONITORING_API_URL", get, timeout)


def health(url_key: str, timeout: float = 2.0) -> dict[str, Any]:
    """A service's /ready answer, or why it is not ready."""
    async def get(client: BaseClient) -> Any:
        return await client.json("GET", "/ready")

    try:
        return _call(BaseClient, url_key, get, timeout)
    except PlatformError as exc:
        return {"status": "down", "error": exc.message}
