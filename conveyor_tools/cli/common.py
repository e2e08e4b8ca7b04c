"""What the commands that talk to the services share: where a service is, one way to report their failures."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from conveyor.clients import APIError, APIUnavailable
from conveyor.settings import local_service_url
from conveyor_tools import localenv


def service_url(service: str) -> str:
    """`<SERVICE>_URL` from the environment or the demo's file, else where the service listens by default."""
    return localenv.lookup(f"{service}_URL", local_service_url(service))


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
