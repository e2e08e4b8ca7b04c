"""ml_data_api settings, from the environment or `.env`."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.settings import config, secret


@dataclass(frozen=True)
class Settings:
    database_url: str = "postgresql://postgres@127.0.0.1:5432/conveyor"
    api_token: str = "dev-token"
    host: str = "127.0.0.1"
    port: int = 8004
    queue_manager_url: str = "http://127.0.0.1:8001"
    max_upload_bytes: int = 200 * 1024 * 1024
    max_page_rows: int = 10_000
    pool_size: int = 8


def load_settings() -> Settings:
    return Settings(
        database_url=config("DATABASE_URL", default=Settings.database_url),
        api_token=secret("API_TOKEN", "dev-token"),
        host=config("ML_DATA_API_HOST", default=Settings.host),
        port=config("ML_DATA_API_PORT", default=Settings.port, cast=int),
        queue_manager_url=config("QUEUE_MANAGER_URL", default=Settings.queue_manager_url),
        max_upload_bytes=int(config("MAX_UPLOAD_MB", default=200, cast=float) * 1024 * 1024),
        max_page_rows=config("MAX_PAGE_ROWS", default=Settings.max_page_rows, cast=int),
        pool_size=config("DB_POOL_SIZE", default=Settings.pool_size, cast=int),
    )
