"""A RabbitMQ node and a PostgreSQL cluster of a benchmark's own, in a temporary directory, on free ports.

`conveyor bench faults` stops and starts its broker and restarts its database: it must never do that to the
machine's RabbitMQ (127.0.0.1:5672) or PostgreSQL (5432), which other people's tests use at the same time. So it
runs these: a RabbitMQ node with its own node name, AMQP and distribution ports, mnesia and log directories, an
empty plugins list (no management listener to clash with) and its own config and env files (the machine's
/etc/rabbitmq files name the machine's node and port); and a PostgreSQL cluster made by initdb, run by pg_ctl as
the postgres user. Both go away with their directory on stop.
"""

from __future__ import annotations

import logging
import os
import pwd
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from conveyor_tools import devstack

log = logging.getLogger("conveyor_tools.benchmarks.private_services")

RABBITMQ_BIN = Path(os.environ.get("RABBITMQ_BIN_DIR", "/usr/lib/rabbitmq/bin"))
POSTGRES_BIN = Path(os.environ.get("POSTGRES_BIN_DIR", "/usr/lib/postgresql/15/bin"))


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@dataclass
class PrivateRabbitMQ:
    base: Path
    port: int = field(default_factory=devstack.free_port)
    dist_port: int = field(default_factory=devstack.free_port)
    node: str = field(default_factory=lambda: f"conveyor_bench_{secrets.token_hex(4)}@localhost")
    # Plugins to enable, e.g. ("rabbitmq_management", "rabbitmq_prometheus"): each listens on its own free port,
    # on loopback, so several private nodes and the machine's broker never clash.
    plugins: tuple[str, ...] = ()
    management_port: int = field(default_factory=devstack.free_port)
    prometheus_port: int = field(default_factory=devstack.free_port)
    proc: subprocess.Popen | None = None

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def management_url(self) -> str:
        """The management API's base (rabbitmq_management among the plugins), guest/guest."""
        return f"http://127.0.0.1:{self.management_port}/api"

    @property
    def prometheus_url(self) -> str:
        """The rabbitmq_prometheus endpoint (that plugin among the plugins)."""
        return f"http://127.0.0.1:{self.prometheus_port}/metrics"

    def _env(self) -> dict[str, str]:
        b = self.base
        return {
            **os.environ,
            "HOME": str(b),  # its own Erlang cookie, shared by the server and rabbitmqctl
            "RABBITMQ_NODENAME": self.node, "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(b / "mnesia"), "RABBITMQ_LOG_BASE": str(b / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(b / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(b / "rabbitmq.config"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(b / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(b / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(b / "rabbitmq.pid"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(b / "plugins-expand"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self, timeout: float = 180.0) -> None:
        """Start the node (a first start makes its database) and wait until it takes AMQP connections."""
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / "enabled_plugins").write_text(f"[{','.join(self.plugins)}].\n")
        (self.base / "rabbitmq-env.conf").write_text("")
        # The classic format: tcp_listeners on loopback only, guest allowed (it is loopback anyway); each plugin's
        # listener on its own port, also on loopback.
        listeners = {"rabbitmq_management": self.management_port, "rabbitmq_prometheus": self.prometheus_port}
        # Statistics every 500 ms instead of the default 5 s: a test that reads queue depth from the management API
        # sees a change at once instead of waiting for the next sample.
        rabbit = f'{{tcp_listeners, [{{"127.0.0.1", {self.port}}}]}}, {{loopback_users, []}}'
        if "rabbitmq_management" in self.plugins:
            rabbit += ", {collect_statistics_interval, 500}"
        apps = [f"{{rabbit, [{rabbit}]}}"]
        apps += [f'{{{name}, [{{tcp_config, [{{ip, "127.0.0.1"}}, {{port, {port}}}]}}]}}'
                 for name, port in listeners.items() if name in self.plugins]
        (self.base / "rabbitmq.config").write_text(f"[{', '.join(apps)}].\n")
        out = open(self.base / "server.out", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen([str(RABBITMQ_BIN / "rabbitmq-server")], env=self._env(), cwd=self.base,
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            devstack.wait_for_port("127.0.0.1", self.port, timeout=timeout, proc=self.proc)
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"the private RabbitMQ node {self.node} did not start: {exc}\n"
                               f"{_tail(self.base / 'log' / (self.node + '.log'))}") from exc
        log.info("private RabbitMQ node %s on 127.0.0.1:%s", self.node, self.port)

    def ctl(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, *args], env=self._env(),
                              cwd=self.base, capture_output=True, text=True, timeout=timeout, check=False)

    def stop_start_app(self) -> str:
        """`rabbitmqctl stop_app`, then `start_app`; says what happened.

        On this machine's RabbitMQ 3.10.8 / OTP 25 a start_app after stop_app has been seen to fail with
        could_not_start_listener ... eaddrinuse although nothing listens on the port (a fresh VM can bind it).
        Then the node is stopped and started again on the same mnesia directory: the broker is down longer, its
        queues and messages are recovered from disk, which is the harder fault of the two."""
        stopped = self.ctl("stop_app")
        if stopped.returncode != 0:
            raise RuntimeError(f"rabbitmqctl stop_app failed: {stopped.stdout}{stopped.stderr}")
        started = self.ctl("start_app")
        if started.returncode == 0:
            devstack.wait_for_port("127.0.0.1", self.port, timeout=120)
            return "stop_app, start_app"
        log.warning("start_app refused (%s); restarting the node on its data", started.stderr.strip()[:200])
        self.stop_node()
        self.start()
        return "stop_app; start_app refused (listener eaddrinuse), so the node was stopped and started on its data"

    def stop_node(self) -> None:
        self.ctl("stop", timeout=60)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    def stop(self) -> None:
        """End the node for good and remove its directory. Its data goes with it, so there is nothing to shut down
        cleanly: the node's process group (rabbitmq-server started it in a session of its own) is killed at once
        instead of the ~10 s of `rabbitmqctl stop`."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)
        shutil.rmtree(self.base, ignore_errors=True)


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the postgres user."""
    if os.geteuid() != 0:
        return argv
    return ["su", "-s", "/bin/sh", "postgres", "-c", shlex.join(argv)]


@dataclass
class PrivatePostgres:
    base: Path
    port: int = field(default_factory=devstack.free_port)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        return self.base / "data"

    def _pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
        argv = [str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "postgres.log"),
                "-o", options, "-w", "-t", "120", *args]
        done = subprocess.run(_as_postgres(argv), capture_output=True, text=True, timeout=180, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {done.stdout}{done.stderr}\n"
                               f"{_tail(self.base / 'postgres.log')}")

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.base, user.pw_uid, user.pw_gid)
        if not self.data.exists():
            argv = [str(POSTGRES_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                    "-E", "UTF8", "--no-sync"]
            done = subprocess.run(_as_postgres(argv), capture_output=True, text=True, timeout=180, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")
        self._pg_ctl("start")
        log.info("private PostgreSQL on 127.0.0.1:%s (data in %s)", self.port, self.data)

    def restart(self) -> None:
        """pg_ctl restart -m fast: every connection is cut, the cluster comes back on the same port and data."""
        self._pg_ctl("-m", "fast", "restart")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self._pg_ctl("-m", "immediate", "stop")
            except RuntimeError as exc:
                log.warning("%s", exc)
        shutil.rmtree(self.base, ignore_errors=True)


def temp_base(what: str) -> Path:
    """A directory under the temporary directory every user can enter (the postgres user runs the cluster)."""
    path = Path(tempfile.mkdtemp(prefix=f"conveyor-{what}-"))
    path.chmod(0o755)
    return path
