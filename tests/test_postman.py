"""postman_collection.json covers every HTTP endpoint, each with an example and a test."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
# service package -> the collection variable holding its base URL
SERVICES = {
    "queue_manager": "qm_url", "ml_data_api": "ml_url",
    "monitoring_api": "monitoring_url", "retraining_api": "retraining_url",
}


def _load_check_newman_report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_newman_report", ROOT / "scripts" / "check_newman_report.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The script that reads newman's report walks the collection; the checks here walk it the same way.
check_newman_report = _load_check_newman_report()


def _requests(items: list[dict]) -> Iterator[dict]:
    return (item for _, item in check_newman_report.requests(items))


@pytest.fixture(scope="module")
def collection() -> dict:
    return json.loads((ROOT / "postman_collection.json").read_text())


def test_collection_is_assembled_from_the_folders(collection: dict) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_postman.py"), "--check"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout
    # Every folder in postman/ is in the collection, whole: each of its requests by name.
    folders = {p.stem: json.loads(p.read_text()) for p in (ROOT / "postman").glob("*.json")}
    assembled = {folder["name"]: folder for folder in collection["item"]}
    assert len(assembled) == len(collection["item"]) == len(folders)
    for stem, folder in folders.items():
        assert folder["name"] in assembled, f"postman/{stem}.json is not in the collection"
        names = [r["name"] for r in _requests(folder["item"])]
        assert names and names == [r["name"] for r in _requests(assembled[folder["name"]]["item"])], stem


def test_every_request_has_a_test(collection: dict) -> None:
    requests = list(_requests(collection["item"]))
    assert requests
    for item in requests:
        scripts = [
            "\n".join(e["script"]["exec"]) for e in item.get("event", []) if e["listen"] == "test"
        ]
        assert any("pm.test(" in s for s in scripts), f"{item['name']} has no pm.test"
        request = item["request"]
        if request["method"] in {"POST", "PUT", "PATCH"}:
            body = request.get("body") or {}
            assert body.get("raw") or body.get("formdata") or body.get("urlencoded"), (
                f"{item['name']} has no example body"
            )


def _collection_routes(collection: dict) -> set[tuple[str, str, str]]:
    routes = set()
    for item in _requests(collection["item"]):
        request = item["request"]
        raw = request["url"]["raw"] if isinstance(request["url"], dict) else request["url"]
        match = re.match(r"\{\{(\w+)\}\}(/[^?#]*)?", raw)
        assert match, f"{item['name']}: URL must start with a base-URL variable: {raw}"
        routes.add((match.group(1), request["method"], match.group(2) or "/"))
    return routes


@pytest.mark.parametrize("package", list(SERVICES))
def test_every_route_is_in_the_collection(package: str, collection: dict) -> None:
    if not (ROOT / package / "main.py").exists():
        pytest.skip(f"{package} is not built yet")
    app = importlib.import_module(f"{package}.main").create_app()
    have = _collection_routes(collection)
    variable = SERVICES[package]
    # The OpenAPI document lists every route; /metrics is left out of it on purpose.
    routes = {path: set(ops) for path, ops in app.openapi()["paths"].items()}
    routes["/metrics"] = {"get"}
    missing = []
    for path, methods in routes.items():
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", r"[^/]+", path) + "/?$")
        for method in (m.upper() for m in methods):
            if not any(v == variable and m == method and pattern.match(p) for v, m, p in have):
                missing.append(f"{method} {path}")
    assert not missing, f"not in postman_collection.json: {missing}"


def test_the_newman_report_check_names_requests_not_run_and_failed() -> None:
    collection = {"item": [{"name": "qm", "item": [{"name": "Health"}, {"name": "Jobs", "item": [{"name": "List"}]}]},
                           {"name": "ml", "item": [{"name": "Rows"}, {"name": "Counts"}]}]}
    report = ElementTree.fromstring(
        '<testsuites><testsuite name="qm / Health" tests="2" failures="0" errors="0"/>'
        '<testsuite name="qm / Jobs / List" tests="1" failures="1" errors="0"/>'
        '<testsuite name="ml / Rows" tests="0" failures="0" errors="0"/></testsuites>')
    assert check_newman_report.problems(collection, report) == [
        "qm / Jobs / List: 1 failed", "ml / Rows: ran no test", "ml / Counts: not run"]
