"""`python -m django_admin`: migrate Django's own tables, ensure the superuser, serve on ADMIN_PORT."""

import logging
import os

import django
import uvicorn
from django.core.management import call_command

from conveyor.settings import config

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_admin.settings")
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
django.setup()
call_command("migrate", interactive=False, verbosity=0)
call_command("ensure_superuser")
uvicorn.run("django_admin.asgi:application", host=config("ADMIN_HOST", default="127.0.0.1"),
            port=config("ADMIN_PORT", default=8000, cast=int), log_level="info")
