"""Who may call what, on every operation every API publishes, against a live throwaway stack: no token and an
unknown token get 401, the read token reads (and gets 403 on any change), the write token passes everywhere;
the probes and the API's own description answer without a token. The OpenAPI says which token each operation
needs and what its 422 looks like.

Path parameters get placeholder values and bodies are empty: the guard answers before the route looks at
either, and the tokens that pass get a 404 or a 422 from the route, which is the point (not 401 or 403).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conveyor.api.access import Access, required_access
from conveyor_tools.stack import Stack
from tests.fuzz_stack import APIS, Operation, api_url, openapi, operations, running_stack

OPEN_PATHS = ["/health", "/ready", "/docs", "/openapi.json", "/metrics"]
WRONG_TOKEN = "not-a-conveyor-token"

pytestmark = pytest.mark.slow


@dataclass
class Live:
    stack: Stack
    client: httpx.Client
    operations: dict[str, list[Operation]]  # by API

    def call(self, operation: Operation, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return self.client.request(operation.method, api_url(self.stack, operation.api) + concrete_path(operation),
                                   headers=headers)

    def check(self, api: str, token: str | None, allowed: dict[Access, str]) -> list[str]:
        """The operations of `api` whose answer to `token` breaks the rule: `allowed` maps an access to "401",
        "403" or "passes" (any answer below 500 other than 401 and 403)."""
        problems = []
        for operation in self.operations[api]:
            expected = allowed.get(needed(operation))
            if expected is None:
                continue
            response = self.call(operation, token)
            status = response.status_code
            ok = (status not in (401, 403) and status < 500) if expected == "passes" else str(status) == expected
            if ok and status in (401, 403):
                ok = isinstance(response.json().get("detail"), str)
            if not ok:
                problems.append(f"{operation.label} ({concrete_path(operation)}): {status} {response.text[:200]}, "
                                f"expected {expected}")
        return problems


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    # One connection pool for the few hundred requests: a new connection each is most of their time.
    with running_stack() as stack, httpx.Client(timeout=60) as client:
        yield Live(stack, client, {api: operations(stack, api) for api in APIS})


@pytest.fixture(scope="module")
def stack(live: Live) -> Stack:
    return live.stack


def placeholder(parameter: dict[str, Any]) -> str:
    schema = parameter.get("schema", {})
    return "1" if schema.get("type") == "integer" else "placeholder"


def concrete_path(operation: Operation) -> str:
    values = {p["name"]: placeholder(p) for p in operation.spec.get("parameters", []) if p["in"] == "path"}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "placeholder"), operation.path)


def needed(operation: Operation) -> Access:
    return required_access(operation.method, operation.path, metrics_open=True)


@pytest.mark.parametrize("api", list(APIS))
def test_without_a_token_every_guarded_operation_is_401(live: Live, api: str) -> None:
    assert any(needed(o) is not Access.OPEN for o in live.operations[api]), f"{api} publishes no guarded operation"
    assert not live.check(api, None, {Access.READ: "401", Access.WRITE: "401"})


@pytest.mark.parametrize("api", list(APIS))
def test_an_unknown_token_is_401(live: Live, api: str) -> None:
    assert not live.check(api, WRONG_TOKEN, {Access.READ: "401", Access.WRITE: "401"})


@pytest.mark.parametrize("api", list(APIS))
def test_the_read_token_reads_and_changes_nothing(live: Live, api: str) -> None:
    reads = [o for o in live.operations[api] if needed(o) is Access.READ]
    writes = [o for o in live.operations[api] if needed(o) is Access.WRITE]
    assert reads and writes, f"{api}: {len(reads)} reads, {len(writes)} writes"
    assert not live.check(api, live.stack.config.api_read_token, {Access.READ: "passes", Access.WRITE: "403"})


@pytest.mark.parametrize("api", list(APIS))
def test_the_write_token_passes_everywhere(live: Live, api: str) -> None:
    assert not live.check(api, live.stack.config.api_token, {Access.READ: "passes", Access.WRITE: "passes"})


@pytest.mark.parametrize("api", list(APIS))
def test_probes_and_the_description_are_open(stack: Stack, api: str) -> None:
    for path in OPEN_PATHS:
        response = httpx.get(api_url(stack, api) + path, timeout=30)
        assert response.status_code == 200, f"{api} {path}: {response.status_code} {response.text[:200]}"
    # "/" is open too; only queue_manager has a page there (the others answer 404, to anyone).
    root = httpx.get(api_url(stack, api) + "/", timeout=30)
    assert root.status_code == (200 if api == "queue_manager" else 404), root.text[:200]
    # An unknown token on an open path is not refused either: a probe does not care who asks.
    assert httpx.get(f"{api_url(stack, api)}/health", headers={"Authorization": f"Bearer {WRONG_TOKEN}"},
                     timeout=30).status_code == 200


@pytest.mark.parametrize("api", list(APIS))
def test_the_openapi_says_which_token_and_what_a_422_is(live: Live, api: str) -> None:
    schema = openapi(live.stack, api)
    problems = []
    for operation in live.operations[api]:
        access = needed(operation)
        spec = operation.spec
        if access is Access.OPEN:
            if "x-conveyor-token" in spec or spec.get("security"):
                problems.append(f"{operation.label} is open but documented as guarded")
            continue
        if spec.get("x-conveyor-token") != access.value:
            problems.append(f"{operation.label}: x-conveyor-token {spec.get('x-conveyor-token')!r}, "
                            f"expected {access.value!r}")
        if spec.get("security") != [{"bearer": []}]:
            problems.append(f"{operation.label}: security {spec.get('security')!r}")
        responses = spec.get("responses", {})
        for status in ("401", "422", *(("403",) if access is Access.WRITE else ())):
            if status not in responses:
                problems.append(f"{operation.label} does not document {status}")
        answer = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
        if answer.get("$ref") != "#/components/schemas/ValidationErrorMessage":
            problems.append(f"{operation.label}: its 422 is {answer!r}, not ValidationErrorMessage")
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components, "FastAPI's own 422 shape is still documented"
    detail = components["ValidationErrorMessage"]["properties"]["detail"]
    assert detail.get("type") == "string", detail
    assert components["ErrorMessage"]["properties"]["detail"].get("type") == "string"
    assert schema["components"]["securitySchemes"]["bearer"] == {
        **schema["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"}
    assert not problems, "\n".join(problems)


def test_the_cli_reads_with_the_read_token_alone(live: Live) -> None:
    # `conveyor status` only reads: with the read token and no write token it gets the job and row counts.
    env = {k: v for k, v in os.environ.items() if k not in ("API_TOKEN", "API_READ_TOKEN")}
    env.update({k: v for k, v in live.stack.env().items() if k.endswith("_URL")})
    env["API_READ_TOKEN"] = live.stack.config.api_read_token
    result = subprocess.run([sys.executable, "-m", "conveyor_tools.cli.main", "status", "--json",
                             "--dataset", "placeholder"], env=env, capture_output=True, text=True, timeout=60)
    report = json.loads(result.stdout)
    assert isinstance(report["jobs"], dict), report["jobs"]
    assert "404" in report["rows"] and "401" not in report["rows"], report["rows"]


def readme_access_table() -> dict[tuple[str, str, str], str]:
    """(service, METHOD, path) -> "read" or "write", from the README's table."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start, end = text.index("<!-- access table"), text.index("<!-- end of the access table")
    listed = {}
    for line in text[start:end].splitlines()[3:]:  # the marker, the header and its rule
        service, path, reads, writes = (cell.strip() for cell in line.strip("|").split("|"))
        for access, methods in (("read", reads), ("write", writes)):
            for method in filter(None, (m.strip() for m in methods.split(","))):
                listed[(service, method, path.strip("`"))] = access
    return listed


@pytest.mark.parametrize("api", list(APIS))
def test_the_readme_lists_each_operations_token(live: Live, api: str) -> None:
    listed = {k: v for k, v in readme_access_table().items() if k[0] == api}
    published = {(api, o.method, o.path): needed(o).value for o in live.operations[api] if needed(o) is not Access.OPEN}
    assert listed == published, (f"README's access table: missing {sorted(published.keys() - listed.keys())}, "
                                 f"not published {sorted(listed.keys() - published.keys())}, wrong token "
                                 f"{sorted(k for k in listed.keys() & published.keys() if listed[k] != published[k])}")
