"""Dashboard pages (a Dash app inside the admin's frame), and proxies to reports the browser cannot reach.

The proxied pages (the explainer dashboard, Evidently's reports) carry their scripts and styles inline
(`conveyor.html_assets`), so they work with no internet and need no second request to an API, which would
want a token a browser does not have.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import escape

from conveyor.html_assets import offline_page
from conveyor.schemas.monitoring import ReportKind, ReportQuery
from django_admin import platform
from django_admin.platform import PlatformError

PAGES = {
    "main_dashboard": "Main dashboard",
    "monitoring_links": "Monitoring links",
    "monitoring": "Real-time monitoring",
    "retraining": "Retraining",
    "pipeline_map": "Pipeline map",
}


def page(app_name: str) -> Callable[[HttpRequest], HttpResponse]:
    @staff_member_required(login_url="/admin/login/")
    def view(request: HttpRequest) -> HttpResponse:
        from django.contrib import admin

        return TemplateResponse(request, "dashboards/page.html", {
            **admin.site.each_context(request), "title": PAGES[app_name], "app_name": app_name, "pages": PAGES})

    return view


def _status(exc: PlatformError) -> int:
    """The API's own 4xx for the request; 502 when it refused the admin itself (its token) or failed."""
    code = exc.status_code
    return 502 if code is None or code in (401, 403) else code


def explainer(request: HttpRequest) -> HttpResponse:
    """retraining_api's explainer dashboard through this site; a 'being built' page until it is ready."""
    params = {k: request.GET.get(k) for k in ("model_name", "version", "evaluate_on", "rows")}
    params["evaluate_on"] = params["evaluate_on"] or "testing"
    try:
        code, body = platform.retraining(lambda c: c.explainer(**params), timeout=60)
    except PlatformError as exc:
        return HttpResponse(f"<h1>Explainer dashboard</h1><p>{escape(exc.message)}</p>",
                            status=_status(exc))
    if code == 200:
        # A dashboard built before its page carried its own scripts still links the CDNs: written in here.
        return HttpResponse(offline_page(body))
    state = json.loads(body)
    return HttpResponse(
        f"<html><head><meta http-equiv='refresh' content='2'><title>Building…</title></head><body>"
        f"<p>Building the explainer dashboard of {escape(state['model_name'])} v{state['version']} on "
        f"{state['rows']} {state['evaluate_on']} rows ({state['status']}); this page reloads by itself.</p>"
        "</body></html>", status=202)


@staff_member_required(login_url="/admin/login/")
def monitoring_report(request: HttpRequest) -> HttpResponse:
    """Evidently's HTML report from monitoring_api, for a browser that only reaches this site."""
    try:
        kind = ReportKind(request.GET.get("kind", "data_drift"))
        query = ReportQuery.model_validate({k: v for k, v in request.GET.items() if k != "kind" and v != ""})
    except ValueError as exc:  # pydantic's ValidationError is one
        kinds = ", ".join(k.value for k in ReportKind)
        return HttpResponse(f"<h1>Report</h1><p>Not a report this page can ask for ({escape(str(exc))}); kind is "
                            f"one of {kinds} and dataset is required.</p>", status=400)
    try:
        html = platform.monitoring(lambda c: c.report_html(kind, query))
    except PlatformError as exc:
        return HttpResponse(f"<h1>Report</h1><p>{escape(exc.message)}</p>", status=_status(exc))
    return HttpResponse(html)

