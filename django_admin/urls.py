"""URLs: the admin, the dashboards (the reference system's paths), Dash's own endpoints, health."""

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.shortcuts import redirect
from django.urls import include, path

from django_admin.dashboards import views as dashboards


def health(_: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "service": "django_admin"})


urlpatterns = [
    path("", lambda request: redirect("/admin/")),
    path("health", health),
    path("admin/", admin.site.urls),
    path("django_plotly_dash/", include("django_plotly_dash.urls")),
    path("dash_monitoring_links/report", dashboards.monitoring_report, name="monitoring_report"),
    *[path(f"dash_{name}", dashboards.page(name), name=f"dash_{name}") for name in dashboards.PAGES],
]
