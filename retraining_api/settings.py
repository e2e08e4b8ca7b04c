"""retraining_api settings (the API and its run executor), from the environment or `.env`."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.settings import amqp_url, config, events_exchange, secret


@dataclass(frozen=True)
class Settings:
    database_url: str = "postgresql://postgres@127.0.0.1:5432/conveyor"
    api_token: str = "dev-token"
    host: str = "127.0.0.1"
    port: int = 8006
    queue_manager_url: str = "http://127.0.0.1:8001"
    ml_data_api_url: str = "http://127.0.0.1:8004"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    events_exchange: str = "conveyor.events"
    # executor
    poll_seconds: float = 1.0
    heartbeat_seconds: float = 5.0
    stale_seconds: float = 120.0
    max_training_rows: int = 200_000
    evaluate_row_cap: int = 50_000
    explainer_default_rows: int = 500
    explainer_max_rows: int = 5_000
    # event-triggered runs: at most one per model within this many seconds
    trigger_cooldown_seconds: float = 3600.0
    trigger_queue: str = "retraining_api.triggers"
    trigger_queue_expires_ms: int = 0  # 0: the queue stays while no one listens (alerts wait in it)
    warm_pycaret: bool = True  # list PyCaret's model ids at start, so the first run request is quick


def load_settings() -> Settings:
    return Settings(
        database_url=config("DATABASE_URL", default=Settings.database_url),
        api_token=secret("API_TOKEN", "dev-token"),
        host=config("RETRAINING_API_HOST", default=Settings.host),
        port=config("RETRAINING_API_PORT", default=Settings.port, cast=int),
        queue_manager_url=config("QUEUE_MANAGER_URL", default=Settings.queue_manager_url),
        ml_data_api_url=config("ML_DATA_API_URL", default=Settings.ml_data_api_url),
        amqp_url=amqp_url(),
        events_exchange=events_exchange(),
        poll_seconds=config("RETRAINING_POLL_SECONDS", default=Settings.poll_seconds, cast=float),
        heartbeat_seconds=config("RETRAINING_HEARTBEAT_SECONDS", default=Settings.heartbeat_seconds, cast=float),
        stale_seconds=config("RETRAINING_STALE_SECONDS", default=Settings.stale_seconds, cast=float),
        max_training_rows=config("RETRAINING_MAX_TRAINING_ROWS", default=Settings.max_training_rows, cast=int),
        evaluate_row_cap=config("RETRAINING_EVALUATE_ROW_CAP", default=Settings.evaluate_row_cap, cast=int),
        explainer_default_rows=config("EXPLAINER_DEFAULT_ROWS", default=Settings.explainer_default_rows, cast=int),
        explainer_max_rows=config("EXPLAINER_MAX_ROWS", default=Settings.explainer_max_rows, cast=int),
        trigger_cooldown_seconds=config("RETRAIN_TRIGGER_COOLDOWN_SECONDS",
                                        default=Settings.trigger_cooldown_seconds, cast=float),
        trigger_queue=config("RETRAINING_TRIGGER_QUEUE", default=Settings.trigger_queue),
        trigger_queue_expires_ms=config("RETRAINING_TRIGGER_QUEUE_EXPIRES_MS",
                                        default=Settings.trigger_queue_expires_ms, cast=int),
        warm_pycaret=config("RETRAINING_WARM_PYCARET", default=Settings.warm_pycaret, cast=bool),
    )
