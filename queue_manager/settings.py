"""queue_manager settings, from the environment or `.env`."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.settings import amqp_url, config, events_exchange, secret


@dataclass(frozen=True)
class Settings:
    mongodb_uri: str = "mongodb://127.0.0.1:27017/conveyor?retryWrites=false"
    api_token: str = "dev-token"
    host: str = "127.0.0.1"
    port: int = 8001
    max_upload_bytes: int = 200 * 1024 * 1024
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    events_exchange: str = "conveyor.events"


def load_settings() -> Settings:
    return Settings(
        mongodb_uri=config("MONGODB_URI", default=Settings.mongodb_uri),
        api_token=secret("API_TOKEN", "dev-token"),
        host=config("QUEUE_MANAGER_HOST", default=Settings.host),
        port=config("QUEUE_MANAGER_PORT", default=Settings.port, cast=int),
        max_upload_bytes=int(config("MAX_UPLOAD_MB", default=200, cast=float) * 1024 * 1024),
        amqp_url=amqp_url(),
        events_exchange=events_exchange(),
    )
