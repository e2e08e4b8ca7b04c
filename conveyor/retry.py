"""Try a step again through passing faults: faults delay, never stop, a process.

`retry` is the one backoff loop of the platform: the delay doubles up to a cap, a stop
event ends the waiting, a hook sees every retry (for metrics), and the caller says which
exceptions are passing faults (wait and try again) and which are refusals (the request
itself was turned down: still never dropped, but tried again only at the longest delay and
logged as an error, since it will not pass by itself).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
Faults = tuple[type[BaseException], ...]


@dataclass(frozen=True)
class Backoff:
    """Seconds to wait before the first retry, doubled after each one up to `maximum`."""

    initial: float = 1.0
    maximum: float = 30.0

    def after(self, delay: float) -> float:
        return min(delay * 2, self.maximum)


class Stopping(Exception):
    """A stop was asked for while waiting to try a step again: the step was not done."""


async def _stop_within(stop: asyncio.Event | None, seconds: float) -> bool:
    """Wait `seconds`, or less when `stop` is set meanwhile; answers whether it was."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def retry(
    what: str, attempt: Callable[[], Awaitable[T]], *, backoff: Backoff = Backoff(),
    stop: asyncio.Event | None = None, passing: Faults = (Exception,), refused: Faults = (),
    on_retry: Callable[[str], None] | None = None,
) -> T:
    """Run `attempt` until it returns, and answer what it returned.

    `attempt` always runs at least once, even when `stop` is already set (a step in hand is
    finished); after a failure, a set `stop` raises `Stopping` instead of waiting. Exceptions
    in neither `passing` nor `refused` propagate at once.
    """
    delay = backoff.initial
    while True:
        try:
            return await attempt()
        except refused as exc:
            delay = backoff.maximum
            log.error("%s refused: %s; trying again in %.3g s", what, exc, delay)
        except passing as exc:
            log.warning("%s failed: %s; trying again in %.3g s", what, exc, delay)
        if on_retry is not None:
            on_retry(what)
        if await _stop_within(stop, delay):
            raise Stopping(what)
        delay = backoff.after(delay)


async def until_done(what: str, attempt: Callable[[], Awaitable[object]], *, initial: float = 1.0,
                     maximum: float = 30.0, stop: asyncio.Event | None = None) -> bool:
    """A start-up step (a broker connection, a table) tried through any failure: True once done, False once stopped."""
    if stop is not None and stop.is_set():
        return False
    try:
        await retry(what, attempt, backoff=Backoff(initial, maximum), stop=stop)
    except Stopping:
        return False
    return True
