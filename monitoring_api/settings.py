"""monitoring_api settings, from the environment or `.env`."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.settings import amqp_url, config, events_exchange, secret


def _optional_float(name: str) -> float | None:
    value = config(name, default="")
    return float(value) if value else None


@dataclass(frozen=True)
class Settings:
    database_url: str = "postgresql://postgres@127.0.0.1:5432/conveyor"
    api_token: str = "dev-token"
    host: str = "127.0.0.1"
    port: int = 8005
    ml_data_api_url: str = "http://127.0.0.1:8004"
    queue_manager_url: str = "http://127.0.0.1:8001"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    events_exchange: str = "conveyor.events"
    sample_cap: int = 20_000
    check_interval_seconds: float = 60.0
    check_window_rows: int = 500
    drift_share_threshold: float = 0.3
    mae_threshold: float | None = None
    r2_threshold: float | None = None
    webhook_url: str = ""
    html_cache_size: int = 32


def load_settings() -> Settings:
    return Settings(
        database_url=config("DATABASE_URL", default=Settings.database_url),
        api_token=secret("API_TOKEN", "dev-token"),
        host=config("MONITORING_API_HOST", default=Settings.host),
        port=config("MONITORING_API_PORT", default=Settings.port, cast=int),
        ml_data_api_url=config("ML_DATA_API_URL", default=Settings.ml_data_api_url),
        queue_manager_url=config("QUEUE_MANAGER_URL", default=Settings.queue_manager_url),
        amqp_url=amqp_url(),
        events_exchange=events_exchange(),
        sample_cap=config("MONITORING_SAMPLE_CAP", default=Settings.sample_cap, cast=int),
        check_interval_seconds=config("CHECK_INTERVAL_SECONDS", default=Settings.check_interval_seconds, cast=float),
        check_window_rows=config("CHECK_WINDOW_ROWS", default=Settings.check_window_rows, cast=int),
        drift_share_threshold=config("DRIFT_SHARE_THRESHOLD", default=Settings.drift_share_threshold, cast=float),
        mae_threshold=_optional_float("MAE_THRESHOLD"),
        r2_threshold=_optional_float("R2_THRESHOLD"),
        webhook_url=config("ALERT_WEBHOOK_URL", default=""),
        html_cache_size=config("HTML_CACHE_SIZE", default=Settings.html_cache_size, cast=int),
    )
