"""Tables a service creates once at start-up; readiness then only asks whether the database answers.

Creating them keeps trying while the database is down (`conveyor.retry.until_done`), so a
service started before its database serves meanwhile and says "not ready" until they exist.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Self

from conveyor.pg import Database
from conveyor.retry import until_done


class TablesNotReady(Exception):
    """The database answers, but the service's tables are not created yet."""


class StartupTables:
    def __init__(self, db: Database, name: str, ddl: str) -> None:
        self.db = db
        self.name = name  # also the advisory lock: processes starting together do not race on CREATE
        self.ddl = ddl
        self.created = False
        self._task: asyncio.Task[bool] | None = None

    def create(self) -> None:
        with self.db.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.name,))
            cur.execute(self.ddl)
        self.created = True

    async def create_until_done(self, stop: asyncio.Event | None = None, tried: asyncio.Event | None = None) -> bool:
        """Create the tables, trying again while the database is down; False when `stop` is set first.

        `tried` is set once the first attempt is over, whichever way it went.
        """

        async def attempt() -> None:
            try:
                await asyncio.to_thread(self.create)
            finally:
                if tried is not None:
                    tried.set()

        return await until_done(f"creating the {self.name}", attempt, stop=stop)

    async def ready(self) -> None:
        """The readiness check: the database answers `SELECT 1` and the tables were created; no DDL."""
        await asyncio.to_thread(self.db.ping)
        if not self.created:
            raise TablesNotReady(f"{self.name} not created yet: creating them is being retried (see the log)")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def __aenter__(self) -> Self:
        """`async with tables:` creates them now when the database answers, so the first request finds
        them; else keeps trying in the background for as long as the block runs (readiness says so)."""
        tried = asyncio.Event()
        self._task = asyncio.create_task(self.create_until_done(tried=tried))
        try:
            await tried.wait()  # one attempt now; a failure is logged and retried in the background
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
