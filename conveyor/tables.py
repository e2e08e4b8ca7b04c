"""Tables a service creates once at start-up; readiness then only asks whether the database answers."""

from __future__ import annotations

import asyncio

from conveyor.pg import Database
from conveyor.startup import StartupStep


class StartupTables(StartupStep):
    def __init__(self, db: Database, name: str, ddl: str) -> None:
        # `name` is also the advisory lock: processes starting together do not race on CREATE.
        super().__init__(f"creating the {name}", self.create_now)
        self.db = db
        self.lock = name
        self.ddl = ddl

    def create_now(self) -> None:
        with self.db.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.lock,))
            cur.execute(self.ddl)

    def create(self) -> None:
        self.run()

    async def ready(self) -> None:
        """The readiness check: the database answers `SELECT 1` and the tables were created; no DDL."""
        await asyncio.to_thread(self.db.ping)
        self.check_done()
