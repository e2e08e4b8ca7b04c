"""`python -m django_admin.manage <command>`: Django's management commands for the admin site."""

import os
import sys

from django.core.management import execute_from_command_line

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_admin.settings")
    execute_from_command_line(sys.argv)
