"""A local Conveyor stack: the stores it needs and the services, as child processes.

One place knows how to bring the platform up on this machine; `conveyor demo`,
`conveyor stack --exec` (the Postman run in CI) and the benchmarks all use it.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from conveyor_tools import devstack

log = logging.getLogger("conveyor_tools.stack")


SECANTUS = "secantusdb"


def local_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


@dataclass
class StackConfig:
    """Where the stack listens and keeps its data."""

    state_dir: Path
    qm_port: int = 8001
    ml_port: int = 8004
    monitoring_port: int = 8005
    retraining_port: int = 8006
    monitoring: bool = True  # monitoring_api (only the admin site and the monitoring tests ask it anything)
    retraining: bool = True  # retraining_api and its run executor
    admin_port: int = 8000
    admin: bool = False  # the Django admin site and dashboards
    admin_user: str = "admin"
    admin_password: str = ""
    mongodb_uri: str | None = None  # None: start secantusdb under state_dir
    mongo_port: int = 27017
    database: str = "conveyor"
    api_token: str = ""
    api_read_token: str = ""
    ephemeral: bool = False  # throwaway: its stores and its state directory are removed on stop
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def service_ports(self) -> dict[str, int]:
        """Each HTTP service's port, by the name its settings use (`<NAME>_PORT`, `<NAME>_URL`)."""
        return {"QUEUE_MANAGER": self.qm_port, "ML_DATA_API": self.ml_port, "MONITORING_API": self.monitoring_port,
                "RETRAINING_API": self.retraining_port, "ADMIN": self.admin_port}

    @classmethod
    def throwaway(cls) -> StackConfig:
        return cls(
            # Named, not made: the stack makes it on start (a caller may point it elsewhere first).
            state_dir=Path(tempfile.gettempdir()) / f"conveyor-stack-{secrets.token_hex(6)}",
            qm_port=devstack.free_port(),
            ml_port=devstack.free_port(),
            monitoring_port=devstack.free_port(),
            retraining_port=devstack.free_port(),
            admin_port=devstack.free_port(),
            admin_password=secrets.token_hex(12),
            mongo_port=devstack.free_port(),
            database=f"conveyor_stack_{secrets.token_hex(5)}",
            api_token=secrets.token_hex(24),
            api_read_token=secrets.token_hex(24),
            ephemeral=True,
        )


@dataclass
class Component:
    name: str
    proc: subprocess.Popen
    health_url: str | None = None
    # How a Python component was started, so that `Stack.restart` starts it again the same way.
    module: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] | None = None


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.components: list[Component] = []
        self.logs = config.state_dir / "logs"
        self.mongodb_uri = config.mongodb_uri or devstack.mongo_uri(
            config.mongo_port, config.database
        )
        self.database_url = devstack.database_url(config.database)
        # The addresses every child and every caller share.
        self.qm_url = local_url(config.qm_port)
        self.ml_url = local_url(config.ml_port)
        self.monitoring_url = local_url(config.monitoring_port)
        self.retraining_url = local_url(config.retraining_port)
        self.admin_url = local_url(config.admin_port)

    def env(self) -> dict[str, str]:
        c = self.config
        return {
            "API_TOKEN": c.api_token,
            **({"API_READ_TOKEN": c.api_read_token} if c.api_read_token else {}),
            "MONGODB_URI": self.mongodb_uri,
            "DATABASE_URL": self.database_url,
            **{f"{name}_URL": local_url(port) for name, port in c.service_ports.items()},
            **{f"{name}_PORT": str(port) for name, port in c.service_ports.items()},
            "ADMIN_USER": c.admin_user,
            "ADMIN_PASSWORD": c.admin_password,
            "QUEUE_MANAGER_HOST": "127.0.0.1",
            "ML_DATA_API_HOST": "127.0.0.1",
            # A throwaway stack's alert and dataset-event queues are its own, and go away soon after it stops.
            **({"RETRAINING_TRIGGER_QUEUE": f"retraining_api.triggers.{c.database}",
                "RETRAINING_TRIGGER_QUEUE_EXPIRES_MS": "60000",
                "ML_DATA_API_EVENTS_QUEUE": f"ml_data_api.dataset_events.{c.database}",
                "ML_DATA_API_EVENTS_QUEUE_EXPIRES_MS": "60000"} if c.ephemeral else {}),
            **c.extra_env,
        }

    # -- lifecycle
    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            # All at once, then each waited for: the services retry their peers and stores, so none needs another
            # up first, and their imports overlap instead of adding up (a stack starts in about half the time).
            # secantusdb starts with them (a second of mostly waiting); only queue_manager, its one client, waits
            # for it to listen, so that its first MongoDB call (the indexes) finds it.
            secantus = self._start_secantus()
            devstack.create_database(self.config.database, exist_ok=True)
            started = [self.start_python("ml_data_api", health=f"{self.ml_url}/health", wait=False)]
            if self.config.monitoring:
                started.append(self.start_python("monitoring_api", health=f"{self.monitoring_url}/health",
                                                 wait=False))
            if self.config.retraining:
                started.append(self.start_python("retraining_api", health=f"{self.retraining_url}/health",
                                                 wait=False))
                self.start_python("retraining_api.executor", name="retraining_executor")
            if self.config.admin:
                started.append(self.start_python("django_admin", health=f"{self.admin_url}/health", wait=False))
            if secantus is not None:
                devstack.wait_for_port("127.0.0.1", self.config.mongo_port, timeout=60, proc=secantus.proc)
            started.insert(0, self.start_python("queue_manager", health=f"{self.qm_url}/health", wait=False))
            for component in started:
                self.wait_healthy(component)
        except BaseException:
            self.stop()
            raise

    def _start_secantus(self) -> Component | None:
        """secantusdb under state_dir, not yet listening; None when the stack uses another MongoDB."""
        if self.config.mongodb_uri is not None:
            return None
        storage = self.config.state_dir / "mongo"
        proc = devstack.start_secantus(self.config.mongo_port, storage, log_file=self.logs / "secantus.log", wait=False)
        component = Component(SECANTUS, proc)
        self.components.append(component)
        log.info("secantusdb on 127.0.0.1:%s (data in %s)", self.config.mongo_port, storage)
        return component

    def start_python(
        self, module: str, health: str | None = None, env: dict[str, str] | None = None,
        args: list[str] | None = None, name: str | None = None, wait: bool = True,
    ) -> Component:
        name = name or module
        proc = devstack.python_module_process(
            module, {**self.env(), **(env or {})}, log_file=self.logs / f"{name}.log", args=args
        )
        component = Component(name, proc, health, module=module, env=dict(env or {}), args=args)
        self.components.append(component)
        if health and wait:
            self.wait_healthy(component)
        log.info("%s started (pid %s)", name, proc.pid)
        return component

    def component(self, name: str) -> Component:
        found = [c for c in self.components if c.name == name]
        if not found:
            raise KeyError(f"the stack has no component {name!r}; it has {[c.name for c in self.components]}")
        return found[0]

    def kill(self, name: str) -> Component:
        """kill -9 one component (a fault, not a shutdown), reaped; it stays listed, to be restarted."""
        component = self.component(name)
        component.proc.kill()
        component.proc.wait(timeout=30)
        log.info("%s killed (pid %s)", name, component.proc.pid)
        return component

    def restart(self, name: str, timeout: float = 90.0) -> Component:
        """Start a stopped or killed component again on the same port and data: secantusdb on its port and storage,
        a Python component with the module, environment and arguments it was started with; waits until it
        listens (secantusdb) or is healthy (a service)."""
        component = self.component(name)
        if component.proc.poll() is None:
            raise RuntimeError(f"{name} is still running (pid {component.proc.pid})")
        if name == SECANTUS:
            component.proc = devstack.start_secantus(self.config.mongo_port, self.config.state_dir / "mongo",
                                                     log_file=self.logs / "secantus.log", wait=False)
            devstack.wait_for_port("127.0.0.1", self.config.mongo_port, timeout=timeout, proc=component.proc)
        else:
            if component.module is None:
                raise RuntimeError(f"{name} was not started by start_python: no way to start it again")
            component.proc = devstack.python_module_process(
                component.module, {**self.env(), **component.env}, log_file=self.logs / f"{name}.log",
                args=component.args)
            self.wait_healthy(component, timeout)
        log.info("%s started again (pid %s)", name, component.proc.pid)
        return component

    def wait_healthy(self, component: Component, timeout: float = 90.0) -> None:
        url = component.health_url
        if url is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if component.proc.poll() is not None:
                tail = self.log_tail(component.name)
                raise RuntimeError(
                    f"{component.name} exited with {component.proc.returncode}:\n{tail}"
                )
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)  # a service answers within milliseconds of listening: a start waits no longer
        raise TimeoutError(f"{component.name} not healthy after {timeout:.0f}s")

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def failed(self) -> list[Component]:
        return [c for c in self.components if c.proc.poll() is not None]

    def stop(self) -> None:
        # Stopped in waves, each signalled together and then waited for, so grace periods overlap instead of
        # adding up: the clients of the registry, then the registry (stopped with its clients it waits 5 s on
        # their half-closed connections), then the store it writes to.
        last = {"queue_manager": 1, SECANTUS: 2}
        for wave in (0, 1, 2):
            members = [c for c in reversed(self.components) if last.get(c.name, 0) == wave]
            for component in members:
                if component.proc.poll() is None:
                    if component.name == SECANTUS and self.config.ephemeral:
                        # Its files are removed below, so no orderly shutdown; it takes 2 s to die even killed,
                        # reaped in the background.
                        component.proc.kill()
                        threading.Thread(target=component.proc.wait, daemon=True).start()
                        continue
                    component.proc.terminate()
            for component in members:
                if not (component.name == SECANTUS and self.config.ephemeral):
                    # A throwaway stack's data goes with it: a service slow to shut down is killed after 2 s.
                    devstack.stop_process(component.proc, timeout=2.0 if self.config.ephemeral else 10.0)
        self.components.clear()
        if self.config.ephemeral:
            try:
                devstack.drop_database(self.config.database)
            except Exception as exc:  # the store may be gone; nothing left to clean then
                log.warning("could not drop %s: %s", self.config.database, exc)
            # Its secantusdb files and logs; a demo's persistent state directory is not ephemeral and stays.
            shutil.rmtree(self.config.state_dir, ignore_errors=True)

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def export_env(stack: Stack) -> dict[str, str]:
    """The environment a command run against the stack sees."""
    return {**os.environ, **stack.env(), "QM_URL": stack.qm_url, "ML_URL": stack.ml_url,
            "MONITORING_URL": stack.monitoring_url, "RETRAINING_URL": stack.retraining_url,
            "ADMIN_URL": stack.admin_url}
