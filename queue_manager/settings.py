"""queue_manager settings (QUEUE_MANAGER_*), from the environment or `.env`."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.settings import ServiceSettings, host_setting, load, port_setting, setting


@dataclass(frozen=True)
class Settings(ServiceSettings, env_prefix="QUEUE_MANAGER_"):
    mongodb_uri: str = setting("mongodb://127.0.0.1:27017/conveyor?retryWrites=false",
                               "MongoDB holding the registry, the jobs and the model files (GridFS).",
                               name="MONGODB_URI", prefixed=False)
    host: str = host_setting("QUEUE_MANAGER")
    port: int = port_setting("QUEUE_MANAGER")


def load_settings() -> Settings:
    return load(Settings)
