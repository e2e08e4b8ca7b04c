"""`ensure_superuser`: the superuser named by ADMIN_USER with ADMIN_PASSWORD; there is no default password."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from conveyor.settings import INSECURE_SECRETS, is_production


class Command(BaseCommand):
    help = "Create the superuser ADMIN_USER (or set its password) from ADMIN_PASSWORD; without one, do nothing."

    def handle(self, *args: Any, **options: Any) -> None:
        username, password = settings.ADMIN_USER, settings.ADMIN_PASSWORD
        if not password:
            self.stdout.write("ADMIN_PASSWORD is not set: no superuser created (createsuperuser makes one)")
            return
        if is_production() and (password in INSECURE_SECRETS or len(password) < 12):
            raise CommandError("ADMIN_PASSWORD must be at least 12 characters and not a default in production")
        users = get_user_model()
        user, created = users.objects.get_or_create(username=username, defaults={"email": ""})
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"superuser {username} {'created' if created else 'updated'}")
