"""A step a service takes once at start-up (its tables, its indexes), through outages of its store.

The step is tried when the service starts, so that the first request finds it done when the
store answers; when the store is down, it keeps being tried in the background (with
`conveyor.retry.until_done`) for as long as the service runs, and readiness says "not ready"
until it is done. Readiness probes never take the step themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress
from typing import Self

from conveyor.retry import until_done


class NotDoneYet(Exception):
    """The store answers, but the start-up step has not succeeded yet."""


class StartupStep:
    def __init__(self, name: str, action: Callable[[], None]) -> None:
        self.name = name
        self.action = action  # blocking: run in a thread
        self.done = False
        self._task: asyncio.Task[bool] | None = None

    def run(self) -> None:
        self.action()
        self.done = True

    async def run_until_done(self, stop: asyncio.Event | None = None, tried: asyncio.Event | None = None) -> bool:
        """Take the step, trying again while its store is down; False when `stop` is set first.

        `tried` is set once the first attempt is over, whichever way it went.
        """

        async def attempt() -> None:
            try:
                await asyncio.to_thread(self.run)
            finally:
                if tried is not None:
                    tried.set()

        return await until_done(self.name, attempt, stop=stop)

    def check_done(self) -> None:
        """For a readiness check: raise unless the step has succeeded."""
        if not self.done:
            raise NotDoneYet(f"{self.name}: not done yet, being retried (see the log)")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def __aenter__(self) -> Self:
        """`async with step:` tries it now; a failure is logged and retried in the background for as
        long as the block runs."""
        tried = asyncio.Event()
        self._task = asyncio.create_task(self.run_until_done(tried=tried))
        try:
            await tried.wait()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
