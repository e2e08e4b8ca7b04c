"""`conveyor demo` as a child process on free ports, started once for the session.

The demo's first start trains a model with PyCaret and loads its rows: the browser tests
and tests/test_demo.py share one demo rather than pay for that twice. test_demo.py stops
and restarts it, so it runs after the browser tests (it is collected after them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from conveyor_tools import devstack, localenv
from tests.support import wait_for

ROWS = 1500  # training + testing rows: split 80/20 by the demo


class RunningDemo:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.database = f"conveyor_demo_test_{os.getpid()}"
        self.ports = {name: devstack.free_port() for name in (
            "QUEUE_MANAGER_PORT", "ML_DATA_API_PORT", "MONITORING_API_PORT", "RETRAINING_API_PORT", "ADMIN_PORT",
            "DEMO_MONGO_PORT", "DEMO_WORKER_METRICS_PORT")}
        # The demo makes its own token and admin password; none may leak in from the environment.
        self.env = {**{k: v for k, v in os.environ.items() if k not in ("API_TOKEN", "MONGODB_URI", "ADMIN_PASSWORD")},
                    **{k: str(v) for k, v in self.ports.items()}, "CONVEYOR_STATE_DIR": str(state_dir),
                    "DEMO_DATABASE": self.database, "DEMO_RATE": "20", "CHECK_INTERVAL_SECONDS": "5",
                    # Labels 3 s after the prediction, not 20: the dashboards have labelled rows to draw sooner.
                    "DEMO_LABEL_DELAY_SECONDS": "3",
                    # 1,200 training rows calibrate windows of up to 300 rows (4 per reference): the dashboards
                    # then show calibrated decisions, not `uncalibrated` (the demo's own window is 500).
                    "MONITORING_CHECK_WINDOW_ROWS": "250"}
        self.proc: subprocess.Popen | None = None
        self.log = state_dir / "demo.log"
        self.starts = 0

    def url(self, port_name: str) -> str:
        return f"http://127.0.0.1:{self.ports[port_name]}"

    @property
    def values(self) -> dict[str, str]:
        """What the demo wrote to demo.env: URLs, token, admin user and password."""
        return localenv.read(self.state_dir / "demo.env")

    def read(self, url: str, **params: str | int) -> Any:
        """GET `url` with the demo's read token (every API but the open pages asks for one); the JSON answer."""
        headers = {"Authorization": f"Bearer {self.values['API_READ_TOKEN']}"}
        response = httpx.get(url, params=params, headers=headers, timeout=30)
        response.raise_for_status()
        return response.json()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def start(self) -> None:
        """Start the demo and wait for its banner; each start logs to a file of its own."""
        self.starts += 1
        self.log = self.state_dir / ("demo.log" if self.starts == 1 else f"demo-{self.starts}.log")
        proc = subprocess.Popen([sys.executable, "-m", "conveyor_tools.cli.main", "demo", "--rows", str(ROWS)],
                                env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
                                cwd=devstack.ROOT)
        self.proc = proc

        def banner() -> bool:
            assert proc.poll() is None, f"the demo exited with {proc.returncode}:\n{self.log_text()[-3000:]}"
            return "demo is running" in self.log_text()

        wait_for(banner, 180, "the demo's banner", interval=0.1, details=lambda: self.log_text()[-3000:])

    def stop(self) -> int:
        """SIGTERM, as Ctrl-C or a service manager would; the demo's exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure_running(self) -> None:
        """Started again when a test before stopped it (test_demo.py run first, for instance)."""
        if not self.running:
            self.start()

    def close(self) -> None:
        try:
            if self.running:
                self.stop()
        finally:
            devstack.drop_database(self.database)
