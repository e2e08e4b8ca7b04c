"""Django's admin app, with Conveyor's admin site in place of the default one."""

from django.contrib.admin.apps import AdminConfig


class ConveyorAdminConfig(AdminConfig):
    default_site = "django_admin.admin_site.ConveyorAdminSite"
