"""URLs: the admin, the dashboards (the reference system's paths), Dash's own endpoints, health."""

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.shortcuts import redirect
from django.urls import include, path

from django_admin.dashboards import views as dashboards
from django_admin.pages import services


def health(_: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "service": "django_admin"})


def ready(_: HttpRequest) -> JsonResponse:
    """Ready when Django's own database answers (the platform's APIs have readiness of their own)."""
    from django.db import connection

    try:
        connection.ensure_connection()
    except Exception as exc:  # any database failure means not ready, with the reason
        return JsonResponse({"status": "not ready", "checks": {"database": str(exc)[:200]}}, status=503)
    return JsonResponse({"status": "ready", "checks": {"database": "ok"}})


urlpatterns = [
    path("", lambda request: redirect("/admin/")),
    path("health", health),
    path("ready", ready),
    # Before the admin's own URLs, whose catch-all would take it; admin_view asks for a staff login as they do.
    path("admin/platform/services/<str:name>/promote/",
         admin.site.admin_view(lambda request, name: services.promote_view(admin.site, request, name)),
         name="conveyor_service_promote"),
    path("admin/", admin.site.urls),
    path("django_plotly_dash/", include("django_plotly_dash.urls")),
    path("dash_monitoring_links/report", dashboards.monitoring_report, name="monitoring_report"),
    *[path(f"dash_{name}", dashboards.page(name), name=f"dash_{name}") for name in dashboards.PAGES],
]
