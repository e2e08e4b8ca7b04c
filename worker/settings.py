"""Worker settings, from the environment or `.env`."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from conveyor.settings import ImproperlyConfigured, amqp_url, config, events_exchange, secret


@dataclass(frozen=True)
class Settings:
    service_name: str
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    queue_manager_url: str = "http://127.0.0.1:8001"
    ml_data_api_url: str = "http://127.0.0.1:8004"
    api_token: str = "dev-token"
    events_exchange: str = "conveyor.events"
    batch_size: int = 200
    batch_wait_ms: int = 20
    prefetch: int = 400
    model_cache_dir: str = ".conveyor/models"
    metrics_port: int = 0
    version_check_seconds: float = 10.0
    worker_id: str = ""
    retry_initial_seconds: float = 0.2
    retry_max_seconds: float = 5.0


def load_settings() -> Settings:
    service = config("SERVICE_NAME", default="")
    if not service:
        raise ImproperlyConfigured("SERVICE_NAME must name the service this worker serves")
    batch_size = config("BATCH_SIZE", default=Settings.batch_size, cast=int)
    return Settings(
        service_name=service,
        amqp_url=amqp_url(),
        queue_manager_url=config("QUEUE_MANAGER_URL", default=Settings.queue_manager_url),
        ml_data_api_url=config("ML_DATA_API_URL", default=Settings.ml_data_api_url),
        api_token=secret("API_TOKEN", "dev-token"),
        events_exchange=events_exchange(),
        batch_size=batch_size,
        batch_wait_ms=config("BATCH_WAIT_MS", default=Settings.batch_wait_ms, cast=int),
        prefetch=config("PREFETCH", default=2 * batch_size, cast=int),
        model_cache_dir=config("MODEL_CACHE_DIR", default=Settings.model_cache_dir),
        metrics_port=config("WORKER_METRICS_PORT", default=Settings.metrics_port, cast=int),
        version_check_seconds=config("VERSION_CHECK_SECONDS", default=Settings.version_check_seconds, cast=float),
        worker_id=config("WORKER_ID", default=f"{socket.gethostname()}-{os.getpid()}"),
        retry_initial_seconds=config("RETRY_INITIAL_SECONDS", default=Settings.retry_initial_seconds, cast=float),
        retry_max_seconds=config("RETRY_MAX_SECONDS", default=Settings.retry_max_seconds, cast=float),
    )
