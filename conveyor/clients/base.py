"""Async HTTP client base: token, timeouts, and errors that tell a fault from bad input."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self
from urllib.parse import quote

import httpx


class APIError(Exception):
    """The service answered with a 4xx: the request itself is wrong (retrying will not help)."""

    def __init__(self, status_code: int, detail: Any, url: str, errors: list[dict[str, Any]] | None = None) -> None:
        self.status_code = status_code
        self.detail = detail
        self.url = url
        # A 422's problems, [{"loc": [...], "msg": "...", "type": "..."}], so a form can show each by its field.
        self.errors = errors or []
        super().__init__(f"{status_code} from {url}: {detail}")


class APIUnavailable(Exception):
    """The service could not be reached or answered 5xx: a passing fault, retry later."""


def part(value: str | int) -> str:
    """One path part of an internal URL, escaped whole: a name holding "/", "?", "#" or "%" stays one part.

    Unescaped, "fz?x" asked for dataset "fz" and "a/b" for another route. "." and ".." are escaped too, since
    a client would otherwise resolve them as "this" and "the parent" path; an empty name has no URL at all.
    """
    text = str(value)
    if not text:
        raise ValueError("a name in the URL is empty: give the dataset, service or model by its name")
    if text in (".", ".."):
        return text.replace(".", "%2E")
    return quote(text, safe="")


def _query(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that are set (None means "not given", never an empty value), times in ISO 8601."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in params.items() if v is not None}


class BaseClient:
    def __init__(
        self, base_url: str, token: str | None = None, timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """`params` may hold None (left out) and datetimes (sent as ISO 8601)."""
        if isinstance(kwargs.get("params"), dict):
            kwargs["params"] = _query(kwargs["params"])
        try:
            response = await self._http.request(method, path, **kwargs)
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise APIUnavailable(f"{method} {self.base_url}{path}: {exc!r}") from exc
        if response.status_code >= 500:
            raise APIUnavailable(
                f"{method} {self.base_url}{path}: {response.status_code} {response.text[:300]}"
            )
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise APIError(response.status_code, response.text, f"{method} {path}")
            errors = body.get("errors")
            raise APIError(response.status_code, body.get("detail", response.text), f"{method} {path}",
                           errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else None)
        return response

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.request(method, path, **kwargs)
        return response.json() if response.content else None
