"""Services: which model a queue's workers apply; assignment, challenger, enabled, retraining policy."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from conveyor.schemas.services import ServiceCreate, ServiceUpdate
from django_admin import platform
from django_admin.forms import ServiceForm
from django_admin.pages.common import add_page, attempt, delete_page, link, log, render, save, url, when

CRUMBS = [("Services", None)]


def _ref(ref: Any) -> str:
    return f"{ref.name} v{ref.version}" if ref else "–"


def list_view(site: AdminSite, request: HttpRequest) -> HttpResponse:
    services = attempt(request, lambda: platform.qm(lambda c: c.list_services()), [])
    rows = [[link(s.name, url("conveyor_service", s.name)), s.dataset, s.queue, _ref(s.algorithm),
             f"{_ref(s.challenger)} ({s.challenger_share:.0%})" if s.challenger else "–",
             "yes" if s.enabled else "no", ", ".join(t.value for t in s.retraining.on) or "off",
             s.assignment_revision, when(s.updated_at)] for s in services]
    return render(request, "list.html", site, "Services", CRUMBS, rows=rows, add_url=url("conveyor_service_add"),
                  add_label="Add service", headers=["name", "dataset", "queue", "model", "challenger", "enabled",
                                                    "retrain on", "revision", "updated"])


def _choices(request: HttpRequest, dataset: str | None = None) -> tuple[list[str], list[Any]]:
    datasets = [d.name for d in attempt(request, lambda: platform.qm(lambda c: c.list_datasets()), [])]
    algorithms = attempt(request, lambda: platform.qm(lambda c: c.list_algorithms(dataset=dataset)), [])
    return datasets, algorithms


def add_view(site: AdminSite, request: HttpRequest) -> HttpResponse:
    datasets, algorithms = _choices(request)
    form = ServiceForm(request.POST or None, datasets=datasets, algorithms=algorithms)
    return add_page(site, request, form, "service",
                    lambda: platform.qm(lambda c: c.create_service(ServiceCreate(**form.body()))))


def _initial(service: Any) -> dict[str, Any]:
    def ref(r: Any) -> str:
        return f"{r.name}:{r.version}" if r else ""

    return {"name": service.name, "dataset": service.dataset, "queue": service.queue,
            "algorithm": ref(service.algorithm), "challenger": ref(service.challenger),
            "challenger_share": service.challenger_share, "enabled": service.enabled,
            "description": service.description, "retrain_on": [t.value for t in service.retraining.on],
            "retrain_auto_promote": service.retraining.auto_promote, "retrain_margin": service.retraining.margin}


def change_view(site: AdminSite, request: HttpRequest, name: str) -> HttpResponse:
    here = url("conveyor_service", name)
    if request.method == "POST" and "_delete" in request.POST:
        return delete_page(request, "service", name, lambda: platform.qm(lambda c: c.delete_service(name)))
    service = attempt(request, lambda: platform.qm(lambda c: c.get_service(name)), None)
    if service is None:
        return redirect(url("conveyor_services"))
    datasets, algorithms = _choices(request, service.dataset)
    form = ServiceForm(request.POST or None, initial=_initial(service), datasets=datasets, algorithms=algorithms,
                       editing=True)
    if request.method == "POST" and form.is_valid():
        body = form.body()
        body.pop("name")
        # Only what changed is sent: an unchanged assignment is no reassignment for the workers.
        current = _initial(service)
        sent = {k: v for k, v in body.items() if k not in ("algorithm", "challenger")}
        for role in ("algorithm", "challenger"):
            if form.cleaned_data[role] != current[role]:
                sent[role] = body[role]
        if save(form, lambda: platform.qm(lambda c: c.update_service(name, ServiceUpdate(**sent)))) is not None:
            log(request, "change", f"service {name}", f"changed {sorted(sent)} through the admin")
            messages.success(request, f"Service {name} saved.")
            return redirect(here)
    return render(request, "form.html", site, f"Service {name}", [("Services", url("conveyor_services")),
                  (name, None)], form=form, submit="Save",
                  intro=f"Assignment revision {service.assignment_revision}; workers reload the model when it "
                        "changes. Delete: the button below.",
                  actions=[{"url": here, "post": True, "name": "_delete", "label": "Delete service"}],
                  delete_url=here)
