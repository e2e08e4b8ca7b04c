"""retraining_api settings (RETRAINING_*: the API and its run executor), from the environment or `.env`."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.settings import (
    PeerUrlsSettings,
    PostgresSettings,
    ServiceSettings,
    host_setting,
    load,
    port_setting,
    setting,
)


@dataclass(frozen=True)
class Settings(PostgresSettings, PeerUrlsSettings, ServiceSettings, env_prefix="RETRAINING_"):
    host: str = host_setting("RETRAINING_API")
    port: int = port_setting("RETRAINING_API")
    # the executor
    poll_seconds: float = setting(1.0, "How often the executor looks for queued runs.")
    heartbeat_seconds: float = setting(5.0, "How often a running run says it is alive.")
    stale_seconds: float = setting(120.0, "A run silent this long is taken over by another executor.")
    max_training_rows: int = setting(200_000, "Training rows at most (a larger window is sampled).")
    evaluate_row_cap: int = setting(50_000, "Rows at most an evaluation scores (a larger split is sampled).")
    explainer_default_rows: int = setting(500, "Rows an explainer dashboard uses unless asked.",
                                          aliases=("EXPLAINER_DEFAULT_ROWS",))
    explainer_max_rows: int = setting(5_000, "Rows at most an explainer dashboard uses.",
                                      aliases=("EXPLAINER_MAX_ROWS",))
    label_poll_seconds: float = setting(5.0, "How often the executor recounts the labelled rows a run waiting "
                                             "for labels needs.")
    # alert-triggered runs
    trigger_cooldown_seconds: float = setting(
        3600.0, "No alert starts a run of a model within this time after its last triggered run ended "
                "(a run of it still waiting, queued or running blocks new ones anyway).",
        aliases=("RETRAIN_TRIGGER_COOLDOWN_SECONDS",))
    trigger_queue: str = setting("retraining_api.triggers", "The broker queue alerts wait in for the API.")
    trigger_queue_expires_ms: int = setting(0, "The trigger queue goes away after this long unused "
                                               "(0: it stays while no one listens, and alerts wait in it).")
    warm_pycaret: bool = setting(True, "List PyCaret's model ids at start (a 4 s setup), "
                                       "so that the first run request is quick.")


def load_settings() -> Settings:
    return load(Settings)
