"""queue_manager settings (QUEUE_MANAGER_*), from the environment or `.env`."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.settings import ImproperlyConfigured, ServiceSettings, host_setting, load, port_setting, setting

# MongoDB's largest TTL (expireAfterSeconds is a 32-bit integer): about 68 years.
MAX_RETENTION_DAYS = 24_855


@dataclass(frozen=True)
class Settings(ServiceSettings, env_prefix="QUEUE_MANAGER_"):
    mongodb_uri: str = setting("mongodb://127.0.0.1:27017/conveyor?retryWrites=false",
                               "MongoDB holding the registry, the jobs and the model files (GridFS).",
                               name="MONGODB_URI", prefixed=False)
    host: str = host_setting("QUEUE_MANAGER")
    port: int = port_setting("QUEUE_MANAGER")
    jobs_retention_days: float = setting(
        30.0, "Days a job stays in the jobs log after it was created (a fraction is fine); 0 keeps jobs forever. "
              "A prune every minute removes older ones in batches; the per-minute statistics outlive them.")
    job_stats_retention_days: float = setting(
        400.0, "Days the per-minute job statistics (what GET /queue_manager/jobs/stats reads) are kept; 0 keeps "
               "them forever.")

    def __post_init__(self) -> None:
        for variable, days in (("QUEUE_MANAGER_JOBS_RETENTION_DAYS", self.jobs_retention_days),
                               ("QUEUE_MANAGER_JOB_STATS_RETENTION_DAYS", self.job_stats_retention_days)):
            if not 0 <= days <= MAX_RETENTION_DAYS:
                raise ImproperlyConfigured(f"{variable} must lie between 0 (keep forever) and "
                                           f"{MAX_RETENTION_DAYS:,} days, got {days:g}")


def load_settings() -> Settings:
    return load(Settings)
