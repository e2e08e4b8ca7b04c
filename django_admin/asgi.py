"""ASGI entry point: `uvicorn django_admin.asgi:application` (what `python -m django_admin` runs)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_admin.settings")
application = get_asgi_application()
