"""The access rule, the token check and the guard's order (token, NUL, size) on their own: pure logic, and the
guard driven as an ASGI app around a small app of its own. tests/test_access_matrix.py and
tests/test_body_limits.py check the same things on the running services."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.types import Message, Scope

from conveyor.api.access import Access, Denied, bearer_token, check_access, required_access
from conveyor.api.guard import Guard, GuardPolicy, _holds_nul_escape
from conveyor.api.openapi import openapi_with_access

WRITE, READ = "write-token", "read-token"
LIMIT, UPLOAD_LIMIT = 1000, 5000


@pytest.mark.parametrize("path", ["/", "/health", "/ready", "/docs", "/docs/oauth2-redirect", "/redoc",
                                  "/openapi.json"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_probes_and_documentation_are_open_to_any_method(path: str, method: str) -> None:
    assert required_access(method, path, metrics_open=False) is Access.OPEN


def test_metrics_are_open_unless_the_setting_asks_for_the_read_token() -> None:
    assert required_access("GET", "/metrics", metrics_open=True) is Access.OPEN
    assert required_access("GET", "/metrics", metrics_open=False) is Access.READ


@pytest.mark.parametrize(("method", "access"), [("GET", Access.READ), ("HEAD", Access.READ), ("get", Access.READ),
                                                ("POST", Access.WRITE), ("PUT", Access.WRITE),
                                                ("PATCH", Access.WRITE), ("DELETE", Access.WRITE),
                                                ("OPTIONS", Access.WRITE), ("TRACE", Access.WRITE)])
def test_reads_are_gets_and_everything_else_is_a_change(method: str, access: Access) -> None:
    assert required_access(method, "/queue_manager/algorithms/m/1/file", metrics_open=True) is access


def test_an_open_path_is_matched_whole() -> None:
    # A prefix or a suffix of an open path is not open.
    for path in ("/health/x", "/healthz", "/docs/", "/openapi.json/../queue_manager/datasets", "//health"):
        assert required_access("GET", path, metrics_open=True) is Access.READ, path


@pytest.mark.parametrize(("headers", "token"), [
    ([(b"authorization", b"Bearer abc")], "abc"),
    ([(b"authorization", b"bearer  abc ")], "abc"),
    ([(b"authorization", b"Basic abc")], None),
    ([(b"authorization", b"Bearer ")], None),
    ([(b"authorization", b"Bearer")], None),
    ([(b"x-token", b"abc")], None),
    ([], None),
])
def test_the_token_is_read_from_a_bearer_authorization(headers: list[tuple[bytes, bytes]], token: str | None) -> None:
    assert bearer_token(headers) == token


def denied(needed: Access, token: str | None, write: str = WRITE, read: str = READ) -> int | None:
    try:
        check_access(needed, token, write_token=write, read_token=read)
    except Denied as refusal:
        assert refusal.message
        return refusal.status
    return None


def test_the_tokens_grant_what_they_should() -> None:
    assert denied(Access.OPEN, None) is None
    assert denied(Access.READ, READ) is None
    assert denied(Access.READ, WRITE) is None
    assert denied(Access.WRITE, WRITE) is None
    assert denied(Access.WRITE, READ) == 403
    for needed in (Access.READ, Access.WRITE):
        assert denied(needed, None) == 401
        assert denied(needed, "guess") == 401
        assert denied(needed, WRITE[:-1]) == 401  # a prefix is not the token
        assert denied(needed, WRITE + "x") == 401


def test_an_unset_token_matches_nothing() -> None:
    # An empty setting must not let an empty (or any) token through.
    assert denied(Access.READ, "", write="", read="") == 401
    assert denied(Access.READ, "x", write=WRITE, read="") == 401


@pytest.mark.parametrize(("body", "holds"), [
    (b'{"a": "\\u0000"}', True),
    (b'{"a": "x\\\\\\u0000"}', True),  # an escaped backslash, then the escape
    (b'{"a": "\\\\u0000"}', False),  # an escaped backslash followed by the letters u0000
    (b'{"a": "u0000"}', False),
    (b'{"a": "\\u00001"}', True),
    (b"", False),
])
def test_the_nul_escape_is_told_from_an_escaped_backslash(body: bytes, holds: bool) -> None:
    assert _holds_nul_escape(body) is holds


# -- the guard around an app


class Item(BaseModel):
    name: str


def guarded_app(metrics_open: bool = True) -> tuple[FastAPI, list[str]]:
    """An app behind the guard, and the list of requests that reached it."""
    app = FastAPI()
    reached: list[str] = []

    @app.get("/health")
    def health() -> dict[str, str]:
        reached.append("health")
        return {"status": "ok"}

    @app.get("/metrics")
    def metrics() -> dict[str, str]:
        return {}

    @app.get("/items/{name}")
    def read(name: str) -> dict[str, str]:
        reached.append(f"read {name}")
        return {"name": name}

    @app.post("/items")
    def create(item: dict[str, Any]) -> dict[str, int]:
        # A body parameter, as the services' routes have: FastAPI reads the body before the route runs.
        reached.append("create")
        return {"keys": len(item)}

    @app.post("/files")
    async def upload(request: Request) -> dict[str, int]:
        reached.append("upload")
        return {"size": len(await request.body())}

    app.add_middleware(Guard, policy=GuardPolicy(write_token=WRITE, read_token=READ, metrics_open=metrics_open,
                                                 max_body_bytes=LIMIT, max_upload_bytes=UPLOAD_LIMIT))
    return app, reached


@pytest.fixture
def guarded() -> Iterator[tuple[TestClient, list[str]]]:
    app, reached = guarded_app()
    with TestClient(app) as client:
        yield client, reached


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_refusal_never_reaches_the_app_and_says_why(guarded: tuple[TestClient, list[str]]) -> None:
    client, reached = guarded
    missing = client.get("/items/a")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert "API_READ_TOKEN" in missing.json()["detail"]
    assert client.post("/items", json={"name": "a"}, headers=bearer(READ)).status_code == 403
    assert client.post("/items", json={"name": "a"}, headers=bearer("guess")).status_code == 401
    assert reached == []
    assert client.get("/health").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/items/a", headers=bearer(READ)).json() == {"name": "a"}
    assert client.post("/items", json={"name": "a"}, headers=bearer(WRITE)).json() == {"keys": 1}
    assert reached == ["health", "read a", "create"]


def test_metrics_behind_the_read_token_when_the_setting_says_so() -> None:
    app, _ = guarded_app(metrics_open=False)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=bearer(READ)).status_code == 200


def test_nul_in_the_path_the_query_or_a_json_body_is_422(guarded: tuple[TestClient, list[str]]) -> None:
    client, reached = guarded
    for response in (client.get("/items/a%00b", headers=bearer(READ)),
                     client.get("/items/a?x=%00", headers=bearer(READ)),
                     client.post("/items", content=b'{"name": "a\\u0000"}', headers={
                         **bearer(WRITE), "Content-Type": "application/json"})):
        assert response.status_code == 422, response.text
        assert "NUL" in response.json()["detail"]
    assert reached == []
    # Not JSON: a NUL in a file is the route's to judge (a CSV's contents, a model's bytes).
    assert client.post("/files", content=b"a\\u0000", headers={
        **bearer(WRITE), "Content-Type": "application/octet-stream"}).json() == {"size": 7}


def test_the_token_is_checked_before_the_size(guarded: tuple[TestClient, list[str]]) -> None:
    client, _ = guarded
    big = b"x" * (LIMIT + 1)
    assert client.post("/items", content=big).status_code == 401
    assert client.post("/items", content=big, headers=bearer(READ)).status_code == 403
    too_large = client.post("/items", content=big, headers=bearer(WRITE))
    assert too_large.status_code == 413 and "MAX_BODY_MB" in too_large.json()["detail"]


def test_uploads_have_their_own_limit(guarded: tuple[TestClient, list[str]]) -> None:
    client, _ = guarded
    headers = {**bearer(WRITE), "Content-Type": "text/csv"}
    assert client.post("/files", content=b"x" * UPLOAD_LIMIT, headers=headers).status_code == 200
    too_large = client.post("/files", content=b"x" * (UPLOAD_LIMIT + 1), headers=headers)
    assert too_large.status_code == 413 and "MAX_UPLOAD_MB" in too_large.json()["detail"]
    multipart = client.post("/files", files={"file": ("f.bin", b"x" * (LIMIT * 2))}, headers=bearer(WRITE))
    assert multipart.status_code == 200


def test_a_content_length_that_is_not_a_number_is_400(guarded: tuple[TestClient, list[str]]) -> None:
    client, _ = guarded
    response = client.post("/items", content=b"{}", headers={**bearer(WRITE), "Content-Length": "2x"})
    assert response.status_code == 400


class Exchange:
    """One request driven through the guard by hand: the chunks it offers, and what was answered."""

    def __init__(self, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> None:
        self.chunks = chunks
        self.headers = headers
        self.pulled = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.pulled >= len(self.chunks):
            return {"type": "http.disconnect"}
        self.pulled += 1
        return {"type": "http.request", "body": self.chunks[self.pulled - 1],
                "more_body": self.pulled < len(self.chunks)}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def run(self, app: Any) -> None:
        scope: Scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                        "scheme": "http", "path": "/items", "raw_path": b"/items", "query_string": b"",
                        "root_path": "", "headers": [(b"authorization", f"Bearer {WRITE}".encode()), *self.headers],
                        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
        asyncio.run(app(scope, self.receive, self.send))

    @property
    def status(self) -> int:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        assert len(starts) == 1, self.sent
        return int(starts[0]["status"])

    @property
    def body(self) -> Any:
        return json.loads(b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body"))


def test_a_chunked_body_is_cut_off_at_the_limit_while_it_streams() -> None:
    app, reached = guarded_app()
    chunk = b"x" * 300
    exchange = Exchange([chunk] * 100, [(b"content-type", b"application/json")])
    exchange.run(app)
    assert exchange.status == 413 and "MAX_BODY_MB" in exchange.body["detail"]
    # FastAPI read it for the route, which never ran; nothing after the chunk that crossed the limit was read.
    assert reached == []
    assert exchange.pulled == LIMIT // len(chunk) + 1
    assert (b"connection", b"close") in next(m for m in exchange.sent if m["type"] == "http.response.start")[
        "headers"]


def test_a_nul_escape_split_across_two_chunks_is_found() -> None:
    app, _ = guarded_app()
    exchange = Exchange([b'{"name": "a\\u00', b'00"}'], [(b"content-type", b"application/json")])
    exchange.run(app)
    assert exchange.status == 422


def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read() -> None:
    app, reached = guarded_app()
    exchange = Exchange([b"x" * 100] * 20, [(b"content-length", str(LIMIT + 1).encode())])
    exchange.run(app)
    assert exchange.status == 413
    assert exchange.pulled == 0 and reached == []


# -- what the OpenAPI says


def test_the_openapi_marks_each_operations_token_and_error_answers() -> None:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {}

    @app.get("/items/{name}")
    def read(name: str) -> Item:
        return Item(name=name)

    @app.post("/items")
    def create(item: Item) -> Item:
        return item

    schema = openapi_with_access(app, metrics_open=True)
    paths = schema["paths"]
    assert "security" not in paths["/health"]["get"] and "x-conveyor-token" not in paths["/health"]["get"]
    read_op, write_op = paths["/items/{name}"]["get"], paths["/items"]["post"]
    assert read_op["x-conveyor-token"] == "read" and write_op["x-conveyor-token"] == "write"
    assert read_op["security"] == write_op["security"] == [{"bearer": []}]
    assert "403" not in read_op["responses"] and "403" in write_op["responses"]
    assert "413" not in read_op["responses"] and "413" in write_op["responses"]
    for operation in (read_op, write_op):
        assert {"401", "404", "422"} <= set(operation["responses"])
        assert operation["responses"]["422"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ValidationErrorMessage"}
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components
    assert components["ValidationErrorMessage"]["properties"]["detail"]["type"] == "string"


def test_an_escaped_slash_in_the_path_is_422(guarded: tuple[TestClient, list[str]]) -> None:
    # The router matches the decoded path: "a%2Fb" would reach another route than the name "a/b" asks for.
    client, reached = guarded
    for path in ("/items/a%2Fb", "/items/a%2fb"):
        response = client.get(path, headers=bearer(READ))
        assert response.status_code == 422 and "%2F" in response.json()["detail"], response.text
    assert reached == []
