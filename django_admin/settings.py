"""Django settings of the admin site, from the environment or `.env` (python-decouple).

Django's own database keeps only users, groups, sessions and the admin log; every
platform object is read from and written to queue_manager and retraining_api over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from conveyor.settings import load
from django_admin.environment import AdminSettings, DjangoSettings

BASE_DIR = Path(__file__).resolve().parent

DJANGO = load(DjangoSettings)
ADMIN = load(AdminSettings)

SECRET_KEY = DJANGO.secret_key
DEBUG = DJANGO.debug
ALLOWED_HOSTS = list(DJANGO.allowed_hosts)
CSRF_TRUSTED_ORIGINS = list(DJANGO.csrf_trusted_origins)


def _database(url: str) -> dict:
    parts = urlparse(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/") or "conveyor",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


DATABASES = {"default": _database(DJANGO.database_url)}

INSTALLED_APPS = [
    "django_admin.admin_config.ConveyorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_plotly_dash.apps.DjangoPlotlyDashConfig",
    "django_admin",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_plotly_dash.middleware.BaseMiddleware",
]
ROOT_URLCONF = "django_admin.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [BASE_DIR / "templates"],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
ASGI_APPLICATION = "django_admin.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True
LOGIN_URL = "/admin/login/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = DJANGO.secure_cookies
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# Dash apps render in same-origin iframes; their scripts and styles are served from here
# (no CDN: the dashboards work without internet access).
X_FRAME_OPTIONS = "SAMEORIGIN"
STATIC_URL = "/static/"
STATIC_ROOT = Path(DJANGO.static_root or BASE_DIR / "_static")
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "django_plotly_dash.finders.DashAssetFinder",
    "django_plotly_dash.finders.DashComponentFinder",
    "django_plotly_dash.finders.DashAppDirectoryFinder",
]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
PLOTLY_COMPONENTS = ["dpd_components"]
PLOTLY_DASH = {"serve_locally": True, "cache_timeout_initial_arguments": 60,
               "view_decorator": "django_admin.dashboards.access.staff_required"}

# Where the platform's services are (server-side calls; a browser only ever talks to this site).
CONVEYOR = {
    "API_TOKEN": ADMIN.api_token,
    "QUEUE_MANAGER_URL": ADMIN.queue_manager_url,
    "ML_DATA_API_URL": ADMIN.ml_data_api_url,
    "MONITORING_API_URL": ADMIN.monitoring_api_url,
    "RETRAINING_API_URL": ADMIN.retraining_api_url,
    "DASHBOARD_REFRESH_SECONDS": ADMIN.dashboard_refresh_seconds,
    "RABBITMQ_MANAGEMENT_URL": ADMIN.rabbitmq_management_url,
}
# The superuser `python -m django_admin` makes (see management/commands/ensure_superuser.py).
ADMIN_USER = ADMIN.user
ADMIN_PASSWORD = ADMIN.password

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"httpx": {"level": "WARNING"}},
}
