"""Assemble postman_collection.json from the per-component folders in postman/.

Each component keeps its requests in `postman/<component>.json` (a Postman v2.1 folder);
this writes the one collection newman runs. `--check` fails when the file is stale, or when a request
to an API sends another token than the one its operation needs: `{{read_token}}` for reads (GET),
`{{token}}` (the write token) for changes, none for the probes; a request that proves a refusal (its
tests expect the 401 or the 403) is the exception.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from conveyor.api.access import Access, required_access
from conveyor.settings import DEV_READ_TOKEN, DEV_TOKEN

ROOT = Path(__file__).resolve().parent.parent
ORDER = [
    "access", "queue_manager", "ml_data_api", "worker", "monitoring_api", "retraining_api", "django_admin",
]
VARIABLES = {
    "qm_url": "http://127.0.0.1:8001",
    "ml_url": "http://127.0.0.1:8004",
    "monitoring_url": "http://127.0.0.1:8005",
    "retraining_url": "http://127.0.0.1:8006",
    "admin_url": "http://127.0.0.1:8000",
    "admin_user": "admin",
    "admin_password": "",
    "token": DEV_TOKEN,
    "read_token": DEV_READ_TOKEN,
    "run_id": "",
}
PREREQUEST = [
    "// A unique suffix per run keeps names from colliding with earlier runs.",
    "if (!pm.variables.get('run_id')) {",
    "    pm.collectionVariables.set('run_id', String(Date.now()));",
    "}",
]


# The base-URL variables of the four APIs (the admin site has logins of its own, not tokens).
API_VARIABLES = frozenset({"qm_url", "ml_url", "monitoring_url", "retraining_url"})
TOKEN_VARIABLE = {Access.READ: "{{read_token}}", Access.WRITE: "{{token}}"}


def requests(items: list[dict], parents: tuple[str, ...] = ()) -> Iterator[tuple[str, dict]]:
    for item in items:
        path = (*parents, item["name"])
        if "item" in item:
            yield from requests(item["item"], path)
        else:
            yield " / ".join(path), item


def sent_token(request: dict) -> str | None:
    for header in request.get("header", []):
        if header["key"].lower() == "authorization" and not header.get("disabled"):
            value: str = header["value"]
            return value.removeprefix("Bearer ").strip()
    return None


def asserted_statuses(item: dict) -> set[int]:
    scripts = "\n".join("\n".join(e["script"]["exec"]) for e in item.get("event", []) if e["listen"] == "test")
    return {int(code) for code in re.findall(r"have\.status\((\d{3})\)", scripts)}


def token_problems(items: list[dict]) -> list[str]:
    """The requests whose token is not the one their operation needs (by conveyor.api.access's rule)."""
    problems = []
    for name, item in requests(items):
        request = item["request"]
        url = request["url"]["raw"] if isinstance(request["url"], dict) else request["url"]
        match = re.match(r"\{\{(\w+)\}\}([^?#]*)", url)
        if not match or match.group(1) not in API_VARIABLES:
            continue
        needed = required_access(request["method"], match.group(2) or "/", metrics_open=True)
        token, statuses = sent_token(request), asserted_statuses(item)
        if needed is Access.OPEN or (401 in statuses and token != TOKEN_VARIABLE[needed]):
            continue  # a probe, or a request showing that a missing or unknown token is refused
        if needed is Access.WRITE and token == TOKEN_VARIABLE[Access.READ] and 403 in statuses:
            continue  # a request showing that the read token changes nothing
        if token != TOKEN_VARIABLE[needed]:
            problems.append(f"{name}: {request['method']} {url} sends {token or 'no token'}, "
                            f"needs {TOKEN_VARIABLE[needed]}")
    return problems


def build() -> str:
    folders = sorted(
        (ROOT / "postman").glob("*.json"),
        key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else len(ORDER), p.stem),
    )
    collection = {
        "info": {
            "name": "Conveyor",
            "description": "Every HTTP endpoint of Conveyor, with examples and tests. "
            "Run: make test (or scripts/run_newman.sh against a running stack).",
            "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
        },
        "event": [{"listen": "prerequest", "script": {"type": "text/javascript", "exec": PREREQUEST}}],
        "variable": [{"key": k, "value": v} for k, v in VARIABLES.items()],
        "item": [json.loads(p.read_text()) for p in folders],
    }
    return json.dumps(collection, indent=2) + "\n"


def main() -> int:
    target = ROOT / "postman_collection.json"
    text = build()
    problems = token_problems(json.loads(text)["item"])
    if problems:
        print("requests sending the wrong token (fix the folders in postman/):\n  " + "\n  ".join(problems))
        return 1
    if "--check" in sys.argv:
        if not target.exists() or target.read_text() != text:
            print("postman_collection.json is stale: run python scripts/build_postman.py")
            return 1
        return 0
    target.write_text(text)
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
