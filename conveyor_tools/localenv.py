"""`.conveyor/demo.env`: what a running demo tells other commands (URLs, token, passwords)."""

from __future__ import annotations

import os
from pathlib import Path

from conveyor_tools.devstack import STATE_DIR

DEMO_ENV = STATE_DIR / "demo.env"


def read(path: Path = DEMO_ENV) -> dict[str, str]:
    if not path.exists():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def write(values: dict[str, str], path: Path = DEMO_ENV) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "# written by `conveyor demo`; source it to talk to the running demo\n"
    body += "".join(f"{k}={v}\n" for k, v in values.items())
    path.write_text(body)
    path.chmod(0o600)


def lookup(key: str, default: str = "") -> str:
    """Environment first, then the running demo's file."""
    return os.environ.get(key) or read().get(key, default)
