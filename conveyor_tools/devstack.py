"""Start and reach the local stores and services for development, tests and the demo.

secantusdb (a MongoDB-compatible server from PyPI) is started as a separate process
and never imported: the services only ever speak the MongoDB wire protocol.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
# Where a local stack keeps its data, logs and demo.env.
STATE_DIR = Path(os.environ.get("CONVEYOR_STATE_DIR") or ROOT / ".conveyor")


# pytest-xdist runs the suite in several processes, each picking ports for the servers it starts: a port picked
# by one and not yet bound could be picked by another. So each xdist worker draws from a range of its own,
# below the kernel's ephemeral range (32768 on), which outgoing connections take from.
XDIST_PORT_BASE = 10_000
XDIST_PORTS_PER_WORKER = 5_000


def _worker_port_range() -> range | None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not worker[2:].isdigit():
        return None
    start = XDIST_PORT_BASE + int(worker[2:]) % 4 * XDIST_PORTS_PER_WORKER
    return range(start, start + XDIST_PORTS_PER_WORKER)


def free_port() -> int:
    ports = _worker_port_range()
    if ports is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    # Not random: a process must not hand out a port it handed out before (it may not be bound yet).
    global _next_offset
    for _ in range(len(ports)):
        port = ports[_next_offset % len(ports)]
        _next_offset += 1
        if _bindable(port):
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1} for xdist worker "
                       f"{os.environ.get('PYTEST_XDIST_WORKER')}")


_next_offset = os.getpid() % 1000  # a restarted worker does not start over on the ports its last run used


def next_free_port(start: int, tries: int = 100) -> int:
    """The first port from `start` on that nothing listens on here."""
    for port in range(start, start + tries):
        if _bindable(port):
            return port
    raise RuntimeError(f"no free port in {start}..{start + tries - 1}")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before listening")
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


def executable(name: str) -> str:
    """A console script of this virtualenv, else one on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found; run 'make install' first")
    return found


def mongo_uri(port: int, database: str, host: str = "127.0.0.1") -> str:
    # secantusdb does not support retryable writes; MongoDB accepts the setting too.
    return f"mongodb://{host}:{port}/{database}?retryWrites=false"


def start_secantus(
    port: int, storage: Path | str, log_file: Path | None = None, wait: bool = True
) -> subprocess.Popen:
    """secantusdb on 127.0.0.1:`port`; with `wait`, once it listens (else the caller waits with wait_for_port)."""
    storage_arg = str(storage)
    if storage_arg != ":memory:":
        Path(storage_arg).mkdir(parents=True, exist_ok=True)
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [
            executable("secantusd-py"), "--host", "127.0.0.1", "--port", str(port),
            "--storage-path", storage_arg, "--standalone", "--log-level", "WARNING",
            "--cache-size", "256M",
            # j:true honoured: the log is synced before a commit is acknowledged (secantusdb's default, like
            # mongod's j:false, acknowledges first, and a kill -9 then loses the last writes). Measured here: no
            # cost that stood out of the noise for batches of 200 job documents.
            "--sync-on-commit",
        ],
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )
    if wait:
        wait_for_port("127.0.0.1", port, timeout=60, proc=proc)
    return proc


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def postgres_admin_url() -> str:
    return os.environ.get("POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def database_url(name: str) -> str:
    base = postgres_admin_url().rsplit("/", 1)[0]
    return f"{base}/{name}"


def create_database(name: str | None = None, exist_ok: bool = False) -> str:
    name = name or f"conveyor_test_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(postgres_admin_url())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            elif not exist_ok:
                raise RuntimeError(f"database {name} already exists")
    finally:
        conn.close()
    return name


def drop_database(name: str) -> None:
    conn = psycopg2.connect(postgres_admin_url())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        conn.close()


def python_module_process(
    module: str, env: dict[str, str], log_file: Path | None = None, args: list[str] | None = None
) -> subprocess.Popen:
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", module, *(args or [])],
        env={**os.environ, **env}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
