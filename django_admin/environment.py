"""What the admin site reads from the environment or `.env`: Django's own settings (DJANGO_*) and the
site's (ADMIN_*). `django_admin/settings.py` turns them into Django's settings."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.settings import (
    DEFAULT_DATABASE_URL,
    Declared,
    ImproperlyConfigured,
    api_token_setting,
    host_setting,
    is_production,
    port_setting,
    service_url_setting,
    setting,
)

DEV_SECRET_KEY = "dev-only-django-secret-key-not-for-production"


@dataclass(frozen=True)
class DjangoSettings(Declared, env_prefix="DJANGO_"):
    secret_key: str = setting(DEV_SECRET_KEY, "Django's signing key (sessions, CSRF).", secret=True,
                              shown="a development key (refused in production)")
    debug: bool = setting(True, "Django's debug pages; must be off in production.", production=False,
                          shown="on in development, off in production")
    allowed_hosts: tuple[str, ...] = setting(("*",), "Host names the site answers to.",
                                             production=("localhost", "127.0.0.1"))
    csrf_trusted_origins: tuple[str, ...] = setting((), "Origins trusted for form posts behind a proxy "
                                                        "(e.g. https://admin.example.com).")
    database_url: str = setting(DEFAULT_DATABASE_URL, "PostgreSQL for the site's users, groups, sessions and "
                                                      "admin log.", aliases=("DATABASE_URL",), shown="`DATABASE_URL`")
    secure_cookies: bool = setting(False, "Session and CSRF cookies only over HTTPS.")
    static_root: str = setting("", "Where the site's static files are collected (empty: django_admin/_static).")

    def __post_init__(self) -> None:
        if self.debug and is_production():
            raise ImproperlyConfigured("DJANGO_DEBUG must be off when CONVEYOR_ENV=production")


@dataclass(frozen=True)
class AdminSettings(Declared, env_prefix="ADMIN_"):
    host: str = host_setting("ADMIN")
    port: int = port_setting("ADMIN")
    user: str = setting("admin", "The superuser made (or updated) at start.")
    password: str = setting("", "That superuser's password (unset: no superuser is made).")
    api_token: str = api_token_setting()
    queue_manager_url: str = service_url_setting("QUEUE_MANAGER")
    ml_data_api_url: str = service_url_setting("ML_DATA_API")
    monitoring_api_url: str = service_url_setting("MONITORING_API")
    retraining_api_url: str = service_url_setting("RETRAINING_API")
    dashboard_refresh_seconds: int = setting(5, "How often the dashboards refresh.",
                                             aliases=("DASHBOARD_REFRESH_SECONDS",))
    # Read by `conveyor status` too (conveyor_tools/cli/status.py reads this declaration's variable).
    rabbitmq_management_url: str = setting(
        "", "RabbitMQ's management API with its user and password, http://USER:PASSWORD@HOST:15672/api: the "
            "pipeline map's and `conveyor status`'s queue depth and consumers (empty: not asked; the map counts "
            "records from jobs, the status asks the broker by an AMQP passive declare).",
        name="RABBITMQ_MANAGEMENT_URL", prefixed=False, shown="empty")
