"""Retry a step through passing faults; a stop request ends the waiting."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from conveyor.clients import APIError, APIUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


class Stopping(Exception):
    """The worker is stopping: leave the batch unacknowledged so the broker redelivers it."""


async def with_retry(
    step: str, call: Callable[[], Awaitable[T]], *, stop: asyncio.Event, initial: float, maximum: float,
    on_retry: Callable[[str], None] = lambda _: None,
) -> T:
    delay = initial
    while True:
        try:
            return await call()
        except APIUnavailable as exc:
            log.warning("%s: %s; retrying in %.1fs", step, exc, delay)
        except APIError as exc:
            # A 4xx for a whole batch means the platform changed under us (a schema, a
            # service): never drop the batch, keep it and say so loudly.
            log.error("%s refused: %s; retrying in %.1fs", step, exc, max(delay, maximum))
            delay = max(delay, maximum)
        on_retry(step)
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
            raise Stopping(step)
        except TimeoutError:
            pass
        delay = min(delay * 2, maximum)
