"""Who may call what: the one rule every service applies, and its OpenAPI documentation reads."""

from __future__ import annotations

import enum
import hmac
from collections.abc import Iterable


class Access(enum.Enum):
    OPEN = "open"  # probes and the API's own description: no token
    READ = "read"  # data, models, jobs, reports: the read token or the write token
    WRITE = "write"  # every change, and everything else that is not a read: the write (admin) token


# Probes, the service's description and its documentation: what a load balancer or a person finding the API
# needs before holding a token. None of them returns data.
OPEN_PATHS = frozenset({"/", "/health", "/ready", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
METRICS_PATH = "/metrics"
READ_METHODS = frozenset({"GET", "HEAD"})


def required_access(method: str, path: str, *, metrics_open: bool) -> Access:
    if path in OPEN_PATHS or (path == METRICS_PATH and metrics_open):
        return Access.OPEN
    return Access.READ if method.upper() in READ_METHODS else Access.WRITE


class Denied(Exception):
    """A request without the token its operation needs; `status` is 401 (who are you?) or 403 (not this)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (ASGI headers), or None."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


def _same(given: str, expected: str) -> bool:
    # Constant time, so that the answer's timing does not reveal how much of a guess was right.
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def check_access(needed: Access, token: str | None, *, write_token: str, read_token: str) -> None:
    """Raise Denied unless `token` grants `needed`."""
    if needed is Access.OPEN:
        return
    if token is None:
        which = "API_READ_TOKEN or API_TOKEN" if needed is Access.READ else "API_TOKEN (the write token)"
        raise Denied(401, f"missing token: send 'Authorization: Bearer <{which}>'")
    if _same(token, write_token):
        return
    if _same(token, read_token):
        if needed is Access.READ:
            return
        raise Denied(403, "the read token cannot change anything: send the write token (API_TOKEN)")
    raise Denied(401, "invalid token: it is neither the read token (API_READ_TOKEN) nor the write token (API_TOKEN)")
