"""monitoring_api settings (MONITORING_*), from the environment or `.env`."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.settings import (
    ImproperlyConfigured,
    PeerUrlsSettings,
    PostgresSettings,
    ServiceSettings,
    host_setting,
    load,
    port_setting,
    setting,
)


@dataclass(frozen=True)
class Settings(PostgresSettings, PeerUrlsSettings, ServiceSettings, env_prefix="MONITORING_"):
    host: str = host_setting("MONITORING_API")
    port: int = port_setting("MONITORING_API")
    sample_cap: int = setting(20_000, "Rows at most per window (larger windows are sampled).")
    check_interval_seconds: float = setting(60.0, "How often the scheduled checks run (0 turns the schedule off).",
                                            aliases=("CHECK_INTERVAL_SECONDS",))
    check_window_rows: int = setting(500, "Latest production rows a scheduled check looks at.",
                                     aliases=("CHECK_WINDOW_ROWS",))
    reference_rows: int = setting(5000, "Latest training rows (in time order) a check compares its window with and "
                                        "calibrates its drift thresholds on.")
    drift_false_alarm: float = setting(0.01, "Target probability that a check of undrifted data raises "
                                             "drift_detected (split over the features tested).")
    drift_numerical_stattest: str = setting("wasserstein", "Evidently statistic for numerical features "
                                                           "(a name of its stattest registry).")
    drift_categorical_stattest: str = setting("jensenshannon", "Evidently statistic for categorical features.")
    calibration_cache_size: int = setting(64, "Drift calibrations kept in memory (one per dataset, reference and "
                                              "window size).")
    performance_tolerance: float = setting(0.15, "How much worse than the model's reference error (0.15: 15 %) a "
                                                 "metric may get before performance_degraded is raised (the window's "
                                                 "one-sided 95 % bound, from batch means in time order, must lie "
                                                 "past it).")
    performance_min_rows: int = setting(100, "Rows at least (labelled ones for realized metrics) before a "
                                             "performance verdict is reached.")
    episode_clear_checks: int = setting(2, "Consecutive checks under the thresholds that end an alert episode "
                                           "(2: one quiet check between two alerting ones does not split an "
                                           "episode, so a flapping decision does not publish again).")
    model_reference_cache_size: int = setting(16, "Model versions whose reference error and estimator are kept "
                                                  "in memory.")
    mae_threshold: float | None = setting(None, "Absolute MAE above which a performance alert is raised (optional: "
                                                "alerts are relative to the model's reference error anyway).",
                                          aliases=("MAE_THRESHOLD",))
    r2_threshold: float | None = setting(None, "Absolute R² below which a performance alert is raised (optional).",
                                         aliases=("R2_THRESHOLD",))
    webhook_url: str = setting("", "Where alert episodes (opened, resolved) are POSTed as JSON (empty: nowhere).",
                               name="ALERT_WEBHOOK_URL", aliases=("ALERT_WEBHOOK_URL",))
    challenger_window_rows: int = setting(5000, "Latest production rows of a service a champion-against-challenger "
                                                "comparison reads when no window is given (the scheduled one always); "
                                                "each model counts only the rows it predicted in its current role.")
    challenger_bootstrap_resamples: int = setting(2000, "Bootstrap resamples of the interval on the difference "
                                                        "between champion and challenger (100 to 100,000).")
    html_cache_size: int = setting(32, "HTML reports kept in memory.", aliases=("HTML_CACHE_SIZE",))

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.drift_false_alarm < 1:
            problems.append(f"MONITORING_DRIFT_FALSE_ALARM must lie between 0 and 1, got {self.drift_false_alarm:g}")
        if not 0 <= self.performance_tolerance < 1:
            problems.append("MONITORING_PERFORMANCE_TOLERANCE must lie in [0, 1), got "
                            f"{self.performance_tolerance:g}")
        if self.episode_clear_checks < 1:
            problems.append(f"MONITORING_EPISODE_CLEAR_CHECKS must be at least 1, got {self.episode_clear_checks}")
        if self.check_window_rows < 1 or self.reference_rows < 1:
            problems.append("MONITORING_CHECK_WINDOW_ROWS and MONITORING_REFERENCE_ROWS must be at least 1")
        if self.challenger_window_rows < 1:
            problems.append(f"MONITORING_CHALLENGER_WINDOW_ROWS must be at least 1, got {self.challenger_window_rows}")
        if not 100 <= self.challenger_bootstrap_resamples <= 100_000:
            problems.append("MONITORING_CHALLENGER_BOOTSTRAP_RESAMPLES must lie between 100 and 100,000, got "
                            f"{self.challenger_bootstrap_resamples}")
        if problems:
            raise ImproperlyConfigured("; ".join(problems))


def load_settings() -> Settings:
    return load(Settings)
