"""Assemble postman_collection.json from the per-component folders in postman/.

Each component keeps its requests in `postman/<component>.json` (a Postman v2.1 folder);
this writes the one collection newman runs. `--check` fails when the file is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conveyor.settings import DEV_TOKEN

ROOT = Path(__file__).resolve().parent.parent
ORDER = [
    "queue_manager", "ml_data_api", "worker", "monitoring_api", "retraining_api", "django_admin",
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
    "run_id": "",
}
PREREQUEST = [
    "// A unique suffix per run keeps names from colliding with earlier runs.",
    "if (!pm.variables.get('run_id')) {",
    "    pm.collectionVariables.set('run_id', String(Date.now()));",
    "}",
]


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
