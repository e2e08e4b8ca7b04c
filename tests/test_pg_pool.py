"""The pool's answer to a connection the server has closed while it sat idle in the pool."""

from __future__ import annotations

import threading

import psycopg2
import pytest

from conveyor.api.errors import Unavailable
from conveyor.pg import Database


def _terminate_others(url: str, database: Database) -> None:
    """Close, from the server's side, every connection to the pool's database but this one."""
    name = database.one("SELECT current_database() AS name")
    assert name is not None
    with psycopg2.connect(url) as admin, admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()", (name["name"],))
    admin.close()


def test_a_select_on_a_connection_closed_by_the_server_is_answered_from_a_fresh_one(pg_url: str) -> None:
    database = Database(pg_url, 2)
    try:
        database.ping()
        _terminate_others(pg_url, database)
        assert database.one("SELECT 41 + 1 AS answer") == {"answer": 42}
    finally:
        database.close()


def test_a_write_on_a_closed_connection_is_not_repeated(pg_url: str) -> None:
    database = Database(pg_url, 1)
    try:
        database.run("CREATE TABLE IF NOT EXISTS pool_retry_probe (n int)")
        _terminate_others(pg_url, database)
        with pytest.raises(Unavailable):
            database.run("INSERT INTO pool_retry_probe VALUES (1)")
        # The broken connection was dropped: the next statement works, and the insert did not happen twice.
        assert database.all("SELECT n FROM pool_retry_probe") == []
        database.run("DROP TABLE pool_retry_probe")
    finally:
        database.close()


def test_a_caller_waits_for_a_busy_pool_instead_of_failing(pg_url: str) -> None:
    """psycopg2's pool refuses a connection at once when all are out (PoolError): callers wait for one."""
    database = Database(pg_url, 1)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with database.connect():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        threading.Timer(0.3, release.set).start()
        assert database.one("SELECT 1 AS one") == {"one": 1}  # waited for the holder's connection
    finally:
        release.set()
        holder.join(10)
        database.close()
