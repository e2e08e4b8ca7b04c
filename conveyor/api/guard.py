"""The door of every service: token, NUL characters and body size, all checked before the body is read.

A pure ASGI middleware rather than a route dependency, because FastAPI reads and parses a body before it runs
a route's dependencies: a 300 MB JSON without a token would be held in memory before being refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor.api.access import Denied, bearer_token, check_access, required_access

MEGABYTE = 1024 * 1024
# Bodies sent as files: they get the upload limit, every other body the (smaller) body limit.
UPLOAD_TYPES = ("multipart/form-data", "text/csv", "application/octet-stream")
NUL_ESCAPE = b"\\u0000"
NUL_MESSAGE = ("NUL characters (\\u0000, %00) are not allowed in a request: PostgreSQL cannot store them; "
               "remove them from the {where}")


@dataclass(frozen=True)
class GuardPolicy:
    write_token: str
    read_token: str
    metrics_open: bool
    max_body_bytes: int
    max_upload_bytes: int


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _holds_nul_escape(data: bytes) -> bool:
    """Whether JSON text holds the escape \\u0000 (not an escaped backslash followed by 'u0000')."""
    start = 0
    while (at := data.find(NUL_ESCAPE, start)) >= 0:
        backslashes = 1
        while at - backslashes >= 0 and data[at - backslashes] == 0x5C:
            backslashes += 1
        if backslashes % 2 == 1:
            return True
        start = at + 1
    return False


async def _answer(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _mb(size: int) -> str:
    return f"{size / MEGABYTE:g} MB"


class Guard:
    def __init__(self, app: ASGIApp, policy: GuardPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policy
        needed = required_access(scope["method"], scope["path"], metrics_open=policy.metrics_open)
        try:
            check_access(needed, bearer_token(scope["headers"]), write_token=policy.write_token,
                         read_token=policy.read_token)
        except Denied as denied:
            await _answer(send, denied.status, denied.message,
                          {"WWW-Authenticate": "Bearer"} if denied.status == 401 else None)
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        if b"\x00" in raw_path or b"%00" in raw_path or b"\x00" in scope["path"].encode():
            await _answer(send, 422, NUL_MESSAGE.format(where="path"))
            return
        if b"%2f" in raw_path.lower():
            # The router matches on the decoded path, so "a%2Fhistory" would reach a's history: no name holds "/".
            await _answer(send, 422, "an escaped / (%2F) is not allowed in a path: no name on the platform holds "
                                     "'/'; check the name")
            return
        query: bytes = scope.get("query_string", b"")
        if b"\x00" in query or b"%00" in query:
            await _answer(send, 422, NUL_MESSAGE.format(where="query string"))
            return
        content_type = _header(scope, b"content-type") or ""
        is_upload = content_type.split(";", 1)[0].strip().lower() in UPLOAD_TYPES
        limit = policy.max_upload_bytes if is_upload else policy.max_body_bytes
        setting = "MAX_UPLOAD_MB" if is_upload else "MAX_BODY_MB"
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _answer(send, 400, f"Content-Length {declared!r} is not a number of bytes")
                return
            if int(declared) > limit:
                await _answer(send, 413, f"the body of {int(declared)} bytes is larger than the limit of "
                                         f"{_mb(limit)} ({setting})")
                return
        await _Body(self.app, limit, setting, _is_json(content_type))(scope, receive, send)


class _Body:
    """One request whose body is counted (and, for JSON, scanned) while the app reads it."""

    def __init__(self, app: ASGIApp, limit: int, setting: str, scan_nul: bool) -> None:
        self.app = app
        self.limit = limit
        self.setting = setting
        self.scan_nul = scan_nul
        self.received = 0
        self.tail = b""  # the end of the previous chunk: an escape may straddle two chunks
        self.started = False  # the app has begun its answer
        self.refused = False  # we answered instead of the app: what it sends after is dropped

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def guarded_receive() -> Message:
            if self.refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk: bytes = message.get("body", b"")
            self.received += len(chunk)
            problem: tuple[int, str] | None = None
            if self.received > self.limit:
                problem = (413, f"the body is larger than the limit of {_mb(self.limit)} ({self.setting})")
            elif self.scan_nul and _holds_nul_escape(self.tail + chunk):
                problem = (422, NUL_MESSAGE.format(where="JSON body"))
            self.tail = (self.tail + chunk)[-64:]
            if problem is None:
                return message
            await self._refuse(send, *problem)
            # The app sees the client gone, stops reading, and its own answer is dropped.
            return {"type": "http.disconnect"}

        async def guarded_send(message: Message) -> None:
            if self.refused:
                return
            if message["type"] == "http.response.start":
                self.started = True
            await send(message)

        await self.app(scope, guarded_receive, guarded_send)

    async def _refuse(self, send: Send, status: int, detail: str) -> None:
        if self.started:  # the app answered before reading all of the body: nothing left to say
            self.refused = True
            return
        self.refused = True
        headers: dict[str, Any] = {"Connection": "close"}
        await _answer(send, status, detail, headers)
