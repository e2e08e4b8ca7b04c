"""monitoring_api settings (MONITORING_*), from the environment or `.env`."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.settings import PeerUrlsSettings, PostgresSettings, host_setting, load, port_setting, setting


@dataclass(frozen=True)
class Settings(PostgresSettings, PeerUrlsSettings, env_prefix="MONITORING_"):
    host: str = host_setting("MONITORING_API")
    port: int = port_setting("MONITORING_API")
    sample_cap: int = setting(20_000, "Rows at most per window (larger windows are sampled).")
    check_interval_seconds: float = setting(60.0, "How often the scheduled checks run (0 turns the schedule off).",
                                            aliases=("CHECK_INTERVAL_SECONDS",))
    check_window_rows: int = setting(500, "Latest production rows a scheduled check looks at.",
                                     aliases=("CHECK_WINDOW_ROWS",))
    drift_share_threshold: float = setting(0.3, "Share of drifted features that raises a drift alert.",
                                           aliases=("DRIFT_SHARE_THRESHOLD",))
    mae_threshold: float | None = setting(None, "Mean absolute error above which a performance alert is raised.",
                                          aliases=("MAE_THRESHOLD",))
    r2_threshold: float | None = setting(None, "R² below which a performance alert is raised.",
                                         aliases=("R2_THRESHOLD",))
    webhook_url: str = setting("", "Where alerts are POSTed as JSON (empty: nowhere).", name="ALERT_WEBHOOK_URL",
                               aliases=("ALERT_WEBHOOK_URL",))
    html_cache_size: int = setting(32, "HTML reports kept in memory.", aliases=("HTML_CACHE_SIZE",))


def load_settings() -> Settings:
    return load(Settings)
