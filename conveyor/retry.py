"""Keep trying a start-up step (a broker connection, a table) until it works: faults delay, never stop, a process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

log = logging.getLogger(__name__)


async def until_done(what: str, attempt: Callable[[], Awaitable[object]], *, initial: float = 1.0,
                     maximum: float = 30.0, stop: asyncio.Event | None = None) -> bool:
    """Run `attempt` until it returns without raising (True), doubling the wait; False once `stop` is set."""
    delay = initial
    while stop is None or not stop.is_set():
        try:
            await attempt()
            return True
        except Exception as exc:  # any failure is a reason to wait and try again
            log.warning("%s failed: %s; trying again in %.0f s", what, exc, delay)
        if stop is None:
            await asyncio.sleep(delay)
        else:
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, maximum)
    return False
