"""queue_manager's side of conveyor.model_check_server: start it once, ask it for a check process, hear when that
process has exited.

One server per queue_manager process, started on the first upload (a stack that never receives one pays
nothing) and again if it has stopped; it ends when queue_manager does (end of its stdin). The check's own limits
and kill stay in conveyor.model_check; see conveyor.model_check_server for why a forked check is as isolated
as a fresh process.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from conveyor.model_check_server import DIRECTORY_PREFIX  # the server removes its directory when it ends, by its name

SERVER_MODULE = "conveyor.model_check_server"
# The first check waits for the server's imports (a few seconds of CPU, more on a busy machine); the check's own
# MODEL_CHECK_SECONDS starts once its process exists.
START_SECONDS = 180.0


class CheckServerUnavailable(RuntimeError):
    """The server could not start a check process, or stopped while one ran; the message says which."""


@dataclass
class Check:
    """A check process the server forked: its pid (it leads its own process group) and its exit, once heard."""

    pid: int
    _exits: queue.Queue[dict[str, Any] | None]

    def wait(self, timeout: float) -> int | None:
        """Its return code (negative: the signal that ended it), or None if it is still running after `timeout`."""
        try:
            message = self._exits.get(timeout=timeout)
        except queue.Empty:
            return None
        if message is None:
            raise CheckServerUnavailable("the model check server stopped while the check ran")
        return int(message["returncode"])


class CheckServer:
    def __init__(self, environment: Callable[[str], dict[str, str]]) -> None:
        self.directory = tempfile.mkdtemp(prefix=DIRECTORY_PREFIX)
        self.owner = os.getpid()
        self._lock = threading.Lock()
        self._waiting: dict[int, queue.Queue[dict[str, Any] | None]] = {}
        self._next_id = 0
        self._gone = False
        with open(Path(self.directory) / "server.log", "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", SERVER_MODULE], cwd=self.directory, env=environment(self.directory),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        self._requests: IO[bytes] = self.process.stdin  # type: ignore[assignment]
        threading.Thread(target=self._read, args=(self.process.stdout,), name="model-check-server",
                         daemon=True).start()

    @property
    def usable(self) -> bool:
        return not self._gone and self.process.poll() is None and self.owner == os.getpid()

    def _read(self, answers: IO[bytes]) -> None:
        for line in answers:
            message = json.loads(line)
            with self._lock:
                waiting = self._waiting.get(int(message["id"]))
                if "returncode" in message:
                    self._waiting.pop(int(message["id"]), None)
            if waiting is not None:
                waiting.put(message)
        with self._lock:
            self._gone = True
            waiting_now, self._waiting = list(self._waiting.values()), {}
        for waiting in waiting_now:
            waiting.put(None)

    def start(self, workdir: str) -> Check:
        """A check process for `workdir` (see conveyor.model_check_child), forked and running."""
        answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        with self._lock:
            if self._gone:
                raise CheckServerUnavailable("the model check server has stopped")
            self._next_id += 1
            request = self._next_id
            self._waiting[request] = answers
            try:
                self._requests.write((json.dumps({"id": request, "workdir": workdir}) + "\n").encode())
                self._requests.flush()
            except OSError as exc:
                self._waiting.pop(request, None)
                raise CheckServerUnavailable(f"the model check server does not take requests ({exc})") from exc
        try:
            started = answers.get(timeout=START_SECONDS)
        except queue.Empty:
            raise CheckServerUnavailable(f"the model check server started no check within {START_SECONDS:g} s "
                                         f"(its log: {self.directory}/server.log)") from None
        if started is None:
            raise CheckServerUnavailable(f"the model check server stopped (its log: {self.directory}/server.log)")
        return Check(int(started["pid"]), answers)

    def close(self) -> None:
        with suppress(OSError):
            self._requests.close()  # the server ends at the end of its stdin, and the checks it still runs
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


_server: CheckServer | None = None
_server_lock = threading.Lock()


def check_server(environment: Callable[[str], dict[str, str]]) -> CheckServer:
    """This process's server, started now if there is none (or it stopped, or this process is a fork of the one
    that started it)."""
    global _server
    with _server_lock:
        if _server is None or not _server.usable:
            if _server is not None and _server.owner == os.getpid():
                _server.close()
            _server = CheckServer(environment)
        return _server


@atexit.register
def _close_server() -> None:
    if _server is not None and _server.owner == os.getpid():
        _server.close()
