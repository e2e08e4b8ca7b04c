"""The project as a Django app: templates, management commands and the Dash apps."""

from django.apps import AppConfig


class DjangoAdminConfig(AppConfig):
    name = "django_admin"
    label = "conveyor_admin"
    verbose_name = "Conveyor"

    def ready(self) -> None:
        # The Dash apps register themselves with django-plotly-dash on import.
        from django_admin.dashboards import apps  # noqa: F401
