"""`python -m django_admin`: migrate Django's own tables, ensure the superuser, serve on ADMIN_PORT."""

import logging
import os

import django
import uvicorn
from django.core.management import call_command

from conveyor.settings import load, settings_or_exit
from django_admin.environment import AdminSettings, DjangoSettings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_admin.settings")
settings_or_exit(lambda: load(DjangoSettings))  # a configuration problem is one line, not a traceback
admin = settings_or_exit(lambda: load(AdminSettings))
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
django.setup()
call_command("migrate", interactive=False, verbosity=0)
call_command("ensure_superuser")
uvicorn.run("django_admin.asgi:application", host=admin.host, port=admin.port, log_level="info")
