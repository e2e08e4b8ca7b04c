"""Jobs: the log of every processed record, read-only, filtered and paged by queue_manager."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from conveyor.schemas.jobs import JobStatus
from django_admin import platform
from django_admin.pages.common import attempt, filter_fields, link, query_values, render, status, url, when

PAGE = 50


def list_view(site: AdminSite, request: HttpRequest) -> HttpResponse:
    filters = query_values(request, "service", "status", "record_id")
    offset = max(int(request.GET.get("offset") or 0), 0)
    page = attempt(request, lambda: platform.qm(lambda c: c.list_jobs(**filters, limit=PAGE, offset=offset)), None)
    jobs = page.jobs if page else []
    rows = [[link(j.record_id, url("conveyor_job", j.id)), j.service, status(j.status.value),
             f"{j.algorithm_name} v{j.algorithm_version}" if j.algorithm_name else "–",
             j.metadata.worker_id or "–", f"{j.metadata.elapsed * 1000:.0f} ms" if j.metadata.elapsed else "–",
             (j.error or "")[:80], when(j.created_at)] for j in jobs]
    query = {k: v for k, v in filters.items() if v}
    total = page.total if page else 0
    pages = {"total": total,
             "previous": "?" + urlencode({**query, "offset": max(offset - PAGE, 0)}) if offset else None,
             "next": "?" + urlencode({**query, "offset": offset + PAGE}) if offset + PAGE < total else None}
    services = [s.name for s in attempt(request, lambda: platform.qm(lambda c: c.list_services()), [])]
    return render(request, "list.html", site, "Jobs", [("Jobs", None)], rows=rows, pages=pages,
                  headers=["record", "service", "status", "model", "worker", "latency", "error", "created"],
                  filters=filter_fields(filters, choices={"service": services,
                                                          "status": [s.value for s in JobStatus]}),
                  empty="No jobs match.")


def detail_view(site: AdminSite, request: HttpRequest, job_id: str) -> HttpResponse:
    found = attempt(request, lambda: platform.qm(lambda c: c.get_job(job_id)), None)
    if found is None:
        return redirect(url("conveyor_jobs"))
    job = found.model_dump(mode="json")
    fields = [("record", job["record_id"]), ("service", job["service"]), ("status", status(job["status"])),
              ("model", f"{job.get('algorithm_name')} v{job.get('algorithm_version')}"),
              ("error", job.get("error") or "–"), ("created", job["created_at"]), ("updated", job["updated_at"])]
    history = {"headers": ["status", "at"], "rows": [[h["status"], h["at"]] for h in job.get("history", [])]}
    return render(request, "detail.html", site, f"Job {job['record_id']}", [("Jobs", url("conveyor_jobs")),
                  (job["record_id"], None)], fields=fields, tables=[("History", history)],
                  blocks=[("Payload", json.dumps(job.get("payload"), indent=2)),
                          ("Result", json.dumps(job.get("result"), indent=2)),
                          ("Metadata", json.dumps(job.get("metadata"), indent=2))])
