"""What the commands that talk to the services share: where a service is, one way to report their failures."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any

from conveyor.clients import APIError, APIUnavailable
from conveyor.settings import DEV_READ_TOKEN, DEV_TOKEN, local_service_url
from conveyor_tools import localenv


def service_url(service: str) -> str:
    """`<SERVICE>_URL` from the environment or the demo's file, else where the service listens by default."""
    return localenv.lookup(f"{service}_URL", local_service_url(service))


def write_token() -> str:
    """The token of the commands that change something: API_TOKEN from the environment or the demo's file."""
    return localenv.lookup("API_TOKEN", DEV_TOKEN)


def read_token() -> str:
    """The token of the commands that only read: API_READ_TOKEN, else API_TOKEN (the write token reads too).

    The environment is asked for both before the running demo's file, so that a stack named in the environment
    is not sent the demo's read token."""
    for source in (os.environ, localenv.read()):
        for key in ("API_READ_TOKEN", "API_TOKEN"):
            if source.get(key):
                return source[key]
    return DEV_READ_TOKEN


def run_api(work: Coroutine[Any, Any, Any]) -> tuple[int, Any]:
    """(exit code, result): a refusal is 1 with the service's message, an outage is 2."""
    try:
        return 0, asyncio.run(work)
    except APIError as exc:
        print(f"error: {exc.detail} ({exc.status_code} from {exc.url})")
        return 1, None
    except APIUnavailable as exc:
        print(f"error: a service is not reachable: {exc}")
        return 2, None
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}")
        return 1, None
