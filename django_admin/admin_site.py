"""Conveyor's admin site: Django's users and groups, and pages over the platform's own APIs.

The platform pages keep nothing in Django's database: each request reads from or writes
to queue_manager and retraining_api, so the admin and the APIs never disagree.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import URLPattern, path, reverse

from django_admin.dashboards import views as dashboards
from django_admin.pages import algorithms, datasets, jobs, runs, services

PLATFORM_PAGES = [
    ("Datasets", "conveyor_datasets", "conveyor_dataset_add"),
    ("Algorithms", "conveyor_algorithms", "conveyor_algorithm_add"),
    ("Services", "conveyor_services", "conveyor_service_add"),
    ("Jobs", "conveyor_jobs", None),
    ("Retraining runs", "conveyor_runs", "conveyor_run_add"),
]
DASHBOARDS = [
    ("Main dashboard", "/dash_main_dashboard"),
    ("Monitoring links", "/dash_monitoring_links"),
    ("Real-time monitoring", "/dash_monitoring"),
    ("Retraining", "/dash_retraining"),
    ("Pipeline map", "/dash_pipeline_map"),
]


class ConveyorAdminSite(admin.AdminSite):
    site_header = "Conveyor administration"
    site_title = "Conveyor"
    index_title = "Platform, users and dashboards"

    def get_urls(self) -> list[URLPattern]:
        def page(route: str, view: Any, name: str) -> URLPattern:
            return path(route, self.admin_view(lambda request, **kw: view(self, request, **kw)), name=name)

        return [
            page("platform/datasets/", datasets.list_view, "conveyor_datasets"),
            page("platform/datasets/add/", datasets.add_view, "conveyor_dataset_add"),
            page("platform/datasets/<str:name>/", datasets.detail_view, "conveyor_dataset"),
            page("platform/algorithms/", algorithms.list_view, "conveyor_algorithms"),
            page("platform/algorithms/add/", algorithms.add_view, "conveyor_algorithm_add"),
            page("platform/algorithms/<str:name>/<int:version>/", algorithms.detail_view, "conveyor_algorithm"),
            page("platform/services/", services.list_view, "conveyor_services"),
            page("platform/services/add/", services.add_view, "conveyor_service_add"),
            page("platform/services/<str:name>/", services.change_view, "conveyor_service"),
            page("platform/jobs/", jobs.list_view, "conveyor_jobs"),
            page("platform/jobs/<str:job_id>/", jobs.detail_view, "conveyor_job"),
            page("platform/runs/", runs.list_view, "conveyor_runs"),
            page("platform/runs/add/", runs.add_view, "conveyor_run_add"),
            page("platform/runs/<int:run_id>/", runs.detail_view, "conveyor_run"),
            path("platform/explainer/", self.admin_view(dashboards.explainer), name="conveyor_explainer"),
            *super().get_urls(),
        ]

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        # django-plotly-dash's own tables are its bookkeeping, not something to administer.
        apps = [a for a in super().get_app_list(request, app_label) if a["app_label"] != "django_plotly_dash"]
        if app_label or not request.user.is_staff:
            return apps
        platform_models = [{
            "name": name, "object_name": name.replace(" ", ""), "perms": {"view": True, "add": bool(add)},
            "admin_url": reverse(f"admin:{listing}"), "add_url": reverse(f"admin:{add}") if add else None,
            "view_only": not add,
        } for name, listing, add in PLATFORM_PAGES]
        dashboard_models = [{"name": name, "object_name": name.replace(" ", ""), "perms": {"view": True},
                             "admin_url": href, "add_url": None, "view_only": True} for name, href in DASHBOARDS]
        return [
            {"name": "Platform (queue_manager and retraining_api)", "app_label": "platform",
             "app_url": reverse("admin:conveyor_datasets"), "has_module_perms": True, "models": platform_models},
            {"name": "Dashboards", "app_label": "dashboards", "app_url": "/dash_main_dashboard",
             "has_module_perms": True, "models": dashboard_models},
            *apps,
        ]

