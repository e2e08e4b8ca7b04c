"""Django settings of the admin site, from the environment or `.env` (python-decouple).

Django's own database keeps only users, groups, sessions and the admin log; every
platform object is read from and written to queue_manager and retraining_api over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from conveyor.settings import Csv, ImproperlyConfigured, config, is_production, secret

BASE_DIR = Path(__file__).resolve().parent
DEV_SECRET_KEY = "dev-only-django-secret-key-not-for-production"

SECRET_KEY = secret("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
DEBUG = config("DJANGO_DEBUG", default=not is_production(), cast=bool)
if is_production() and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off when CONVEYOR_ENV=production")
ALLOWED_HOSTS = config("DJANGO_ALLOWED_HOSTS", default="*" if not is_production() else "localhost,127.0.0.1",
                       cast=Csv())
CSRF_TRUSTED_ORIGINS = config("DJANGO_CSRF_TRUSTED_ORIGINS", default="", cast=Csv())


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


DATABASES = {"default": _database(config("DJANGO_DATABASE_URL", default=config(
    "DATABASE_URL", default="postgresql://postgres@127.0.0.1:5432/conveyor")))}

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
SESSION_COOKIE_SECURE = config("DJANGO_SECURE_COOKIES", default=False, cast=bool)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# Dash apps render in same-origin iframes; their scripts and styles are served from here
# (no CDN: the dashboards work without internet access).
X_FRAME_OPTIONS = "SAMEORIGIN"
STATIC_URL = "/static/"
STATIC_ROOT = Path(config("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "_static")))
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
    "API_TOKEN": secret("API_TOKEN", "dev-token"),
    "QUEUE_MANAGER_URL": config("QUEUE_MANAGER_URL", default="http://127.0.0.1:8001"),
    "ML_DATA_API_URL": config("ML_DATA_API_URL", default="http://127.0.0.1:8004"),
    "MONITORING_API_URL": config("MONITORING_API_URL", default="http://127.0.0.1:8005"),
    "RETRAINING_API_URL": config("RETRAINING_API_URL", default="http://127.0.0.1:8006"),
    "DASHBOARD_REFRESH_SECONDS": config("DASHBOARD_REFRESH_SECONDS", default=5, cast=int),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"httpx": {"level": "WARNING"}},
}
