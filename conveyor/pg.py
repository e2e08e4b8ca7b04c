"""A small pool of psycopg2 connections that survives a database restart."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
from psycopg2.extensions import connection as Connection
from psycopg2.extras import RealDictCursor
from psycopg2.pool import ThreadedConnectionPool

from conveyor.api.errors import Unavailable

BROKEN = (psycopg2.OperationalError, psycopg2.InterfaceError)
# psycopg2's pool raises PoolError at once when all its connections are out; a caller waits this long for one
# instead (threads of one process share the pool: a run, its progress reports, the readiness probe).
POOL_WAIT_SECONDS = 30.0


class Database:
    def __init__(self, url: str, size: int) -> None:
        self.url = url
        self.size = size
        self._pool: ThreadedConnectionPool | None = None
        self._lock = threading.Lock()
        self._free = threading.BoundedSemaphore(size)

    def _get_pool(self) -> ThreadedConnectionPool:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadedConnectionPool(1, self.size, self.url, connect_timeout=5)
            return self._pool

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection in a transaction: committed on success, rolled back on error."""
        if not self._free.acquire(timeout=POOL_WAIT_SECONDS):
            raise Unavailable(f"all {self.size} database connections of this process stayed busy for "
                              f"{POOL_WAIT_SECONDS:g} s: try again, or raise its pool size")
        try:
            pool = self._get_pool()
            conn = pool.getconn()
        except BROKEN as exc:
            self._free.release()
            raise Unavailable(f"database unreachable: {exc}".strip()) from exc
        except BaseException:
            self._free.release()
            raise
        broken = False
        try:
            if conn.closed:
                raise psycopg2.InterfaceError("connection closed")
            yield conn
            conn.commit()
        except BROKEN as exc:
            broken = True
            raise Unavailable(f"database unreachable: {exc}".strip()) from exc
        except BaseException:
            if not conn.closed:
                conn.rollback()
            raise
        finally:
            # A connection that saw the server go away is dropped, not reused.
            try:
                pool.putconn(conn, close=broken or bool(conn.closed))
            finally:
                self._free.release()

    def _rows(self, sql: str, params: Any, first_only: bool) -> list[dict[str, Any]]:
        # A pooled connection the server has since closed (a restart, an idle timeout) fails on its first use.
        # A SELECT changed nothing, so it is tried once more on a fresh connection instead of answering 503;
        # a write is not repeated, since it may have reached the server before the connection broke.
        attempts = 2 if sql.lstrip()[:6].upper() == "SELECT" else 1
        for attempt in range(attempts):
            try:
                with self.connect() as conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
                    cur.execute(sql, params)
                    rows = [cur.fetchone()] if first_only else cur.fetchall()
                    return [dict(r) for r in rows if r]
            except Unavailable:
                if attempt + 1 == attempts:
                    raise
        raise AssertionError("unreachable")

    def one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        """The first row the statement answers, as a dict (None when there is none)."""
        rows = self._rows(sql, params, first_only=True)
        return rows[0] if rows else None

    def returning(self, sql: str, params: Any = ()) -> dict[str, Any]:
        """The row an `INSERT ... RETURNING` answers: there always is one."""
        row = self.one(sql, params)
        if row is None:
            raise RuntimeError(f"the statement returned no row: {sql[:120]}")
        return row

    def all(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return self._rows(sql, params, first_only=False)

    def run(self, sql: str, params: Any = ()) -> None:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(sql, params)

    def ping(self) -> None:
        self._rows("SELECT 1", (), first_only=True)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.closeall()
                self._pool = None


def filters(equal: dict[str, Any], at_least: dict[str, Any] | None = None,
            below: dict[str, Any] | None = None) -> tuple[str, list[Any]]:
    """A WHERE clause (and its parameters) of the filters that are set; None means no filter."""
    where, params = ["TRUE"], []
    for clauses, operator in ((equal, "="), (at_least or {}, ">="), (below or {}, "<")):
        for column, value in clauses.items():
            if value is not None:
                where.append(f"{column} {operator} %s")
                params.append(value)
    return " AND ".join(where), params
