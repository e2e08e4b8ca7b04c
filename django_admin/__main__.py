"""`python -m django_admin`: migrate Django's own tables, ensure the superuser, serve on ADMIN_PORT."""

import importlib
import logging
import os

import django
import uvicorn
from django.core.management import call_command

from conveyor.settings import settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_admin.settings")
# Read (and checked) once, here, so that a configuration problem is one line, not a traceback; Django's
# setup below finds the module already imported.
site = settings_or_exit(lambda: importlib.import_module("django_admin.settings"))
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
django.setup()
call_command("migrate", interactive=False, verbosity=0)
call_command("ensure_superuser")
uvicorn.run("django_admin.asgi:application", host=site.ADMIN.host, port=site.ADMIN.port, log_level="info")
