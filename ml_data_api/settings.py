"""ml_data_api settings (ML_DATA_API_*), from the environment or `.env`."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.settings import (
    PostgresSettings,
    ServiceSettings,
    host_setting,
    load,
    pool_size_setting,
    port_setting,
    service_url_setting,
    setting,
)


@dataclass(frozen=True)
class Settings(PostgresSettings, ServiceSettings, env_prefix="ML_DATA_API_"):
    pool_size: int = pool_size_setting(8, aliases=("DB_POOL_SIZE",))  # every ingest and query is served from it
    host: str = host_setting("ML_DATA_API")
    port: int = port_setting("ML_DATA_API")
    queue_manager_url: str = service_url_setting("QUEUE_MANAGER")
    max_page_rows: int = setting(10_000, "Rows at most in one page of a query.", aliases=("MAX_PAGE_ROWS",))
    events_queue: str = setting("ml_data_api.dataset_events",
                                "Durable queue of dataset events: a dataset deleted in queue_manager loses its tables.")
    events_queue_expires_ms: int = setting(
        0, "Delete the events queue after this long without a listener (ms); 0 keeps it, events wait in it.")


def load_settings() -> Settings:
    return load(Settings)
