"""Importing this registers every Dash app with django-plotly-dash."""

from django_admin.dashboards import main, monitoring, monitoring_links, pipeline, retraining  # noqa: F401
