"""Worker settings (WORKER_*), from the environment or `.env`."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from conveyor.settings import PeerUrlsSettings, load, setting


@dataclass(frozen=True)
class Settings(PeerUrlsSettings, env_prefix="WORKER_"):
    service_name: str = setting("", "The name of the service this worker serves.",
                                aliases=("SERVICE_NAME",), required=True)
    batch_size: int = setting(200, "Messages at most in one batch.", aliases=("BATCH_SIZE",))
    batch_wait_ms: int = setting(20, "How long a batch waits to fill, in ms.", aliases=("BATCH_WAIT_MS",))
    prefetch: int = setting(0, "Messages the broker hands out ahead of acknowledgement (0: twice the batch).",
                            aliases=("PREFETCH",), shown="2×`WORKER_BATCH_SIZE`")
    model_cache_dir: str = setting(".conveyor/models", "Where downloaded model files are kept.",
                                   aliases=("MODEL_CACHE_DIR",))
    metrics_port: int = setting(0, "Port of its Prometheus /metrics (0: a free port, logged).")
    version_check_seconds: float = setting(10.0, "How often it checks its service's model version "
                                                 "(the fallback when an assignment event is missed).",
                                           aliases=("VERSION_CHECK_SECONDS",))
    worker_id: str = setting("", "Its name in jobs and logs.", name="ID", shown="host name and process id")
    retry_initial_seconds: float = setting(0.2, "First wait before retrying a passing failure (it doubles).",
                                           aliases=("RETRY_INITIAL_SECONDS",))
    retry_max_seconds: float = setting(5.0, "Longest wait between retries.", aliases=("RETRY_MAX_SECONDS",))
    model_retry_seconds: float = setting(
        30.0, "How long after a model failed to load a worker tries it again (a new assignment is tried at once): "
              "meanwhile a challenger's records go to the champion, a champion's to the previous one, or, with "
              "none, the messages wait in the queue.", aliases=("WORKER_CHALLENGER_RETRY_SECONDS",))

    def __post_init__(self) -> None:
        # Defaults that depend on another value or on the process; frozen, so set through object.
        if not self.prefetch:
            object.__setattr__(self, "prefetch", 2 * self.batch_size)
        if not self.worker_id:
            object.__setattr__(self, "worker_id", f"{socket.gethostname()}-{os.getpid()}")


def load_settings() -> Settings:
    return load(Settings)
