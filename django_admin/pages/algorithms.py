"""Algorithms: versioned model files in queue_manager; upload, stage changes, deletion."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from conveyor.schemas.algorithms import Stage, StageUpdate
from django_admin import platform
from django_admin.forms import FILE_FIELDS, AlgorithmUploadForm, StageForm
from django_admin.kept_files import KeptFiles
from django_admin.pages.common import attempt, filter_fields, link, log, query_values, render, save, status, url, when

CRUMBS = [("Algorithms", None)]


def _score(metrics: dict) -> str:
    shown = [f"{k} {v:.4g}" for k, v in metrics.items() if k in ("RMSE", "R2", "MAE", "Accuracy", "F1")
             and isinstance(v, int | float)]
    return ", ".join(shown) or "–"


def list_view(site: AdminSite, request: HttpRequest) -> HttpResponse:
    filters = query_values(request, "name", "dataset", "stage")
    algorithms = attempt(request, lambda: platform.qm(lambda c: c.list_algorithms(**filters)), [])
    rows = [[link(f"{a.name} v{a.version}", url("conveyor_algorithm", a.name, a.version)), a.dataset,
             status(a.stage.value), a.framework or "–", _score(a.metrics), f"{a.file.size:,} B", when(a.created_at)]
            for a in reversed(algorithms)]
    return render(request, "list.html", site, "Algorithms", CRUMBS, rows=rows, add_url=url("conveyor_algorithm_add"),
                  add_label="Upload a model", headers=["model", "dataset", "stage", "framework", "holdout scores",
                                                       "file", "uploaded"],
                  filters=filter_fields(filters, choices={"stage": [s.value for s in Stage]}))


def add_view(site: AdminSite, request: HttpRequest) -> HttpResponse:
    datasets = [d.name for d in attempt(request, lambda: platform.qm(lambda c: c.list_datasets()), [])]
    kept = KeptFiles(request)
    form = AlgorithmUploadForm(request.POST or None, request.FILES or None, datasets=datasets, kept=kept)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        model, config = d["file"], d["config_file"]
        created = save(form, lambda: platform.qm(lambda c: c.upload_algorithm(
                name=d["name"], dataset=d["dataset"], model=model.read(), filename=model.name,
                config=config.read() if config else None, config_filename=config.name if config else "config.pkl",
                framework=d["framework"], description=d["description"], metrics=d["metrics"], stage=d["stage"]),
                timeout=300))
        if created is not None:
            kept.discard(*(form.data.get(f"kept_{field}") or "" for field in FILE_FIELDS))
            log(request, "add", f"algorithm {created.name} v{created.version}", "uploaded through the admin")
            messages.success(request, f"Uploaded {created.name} version {created.version}.")
            return redirect(url("conveyor_algorithm", created.name, created.version))
    if request.method == "POST":
        form.keep_files()  # refused: the chosen files wait on the server for the next try
    return render(request, "form.html", site, "Upload a model", [("Algorithms", url("conveyor_algorithms")),
                  ("Upload", None)], form=form, submit="Upload",
                  intro="The server numbers versions per name: uploading an existing name adds its next version.")


def detail_view(site: AdminSite, request: HttpRequest, name: str, version: int) -> HttpResponse:
    here = url("conveyor_algorithm", name, version)
    if request.method == "POST":
        try:
            if "_delete" in request.POST:
                platform.qm(lambda c: c.delete_algorithm(name, version))
                log(request, "delete", f"algorithm {name} v{version}", "deleted through the admin")
                messages.success(request, f"Deleted {name} version {version}.")
                return redirect(url("conveyor_algorithms"))
            if "_promote" in request.POST:
                promotion = platform.retraining(lambda c: c.promote_version(name, version))
                log(request, "change", f"algorithm {name} v{version}", "promoted through the admin")
                messages.success(request, f"{name} v{version} is in production; services moved to it: "
                                          f"{', '.join(promotion.services) or 'none'}.")
                return redirect(here)
            form = StageForm(request.POST)
            if form.is_valid():
                update = StageUpdate(stage=form.cleaned_data["stage"], reason=form.cleaned_data["reason"],
                                     by=request.user.get_username())
                platform.qm(lambda c: c.set_stage(name, version, update))
                log(request, "change", f"algorithm {name} v{version}", f"stage set to {update.stage.value}")
                messages.success(request, f"{name} v{version} is now {update.stage.value}.")
        except platform.PlatformError as exc:
            messages.error(request, exc.message)
        return redirect(here)
    algorithm = attempt(request, lambda: platform.qm(lambda c: c.get_algorithm(name, version)), None)
    if algorithm is None:
        return redirect(url("conveyor_algorithms"))
    fields = [("name", algorithm.name), ("version", algorithm.version),
              ("dataset", link(algorithm.dataset, url("conveyor_dataset", algorithm.dataset))),
              ("stage", status(algorithm.stage.value)), ("framework", algorithm.framework or "–"),
              ("description", algorithm.description or "–"),
              ("model file", f"{algorithm.file.filename}, {algorithm.file.size:,} bytes, "
                             f"sha256 {algorithm.file.sha256}"),
              ("config file", algorithm.config_file.filename if algorithm.config_file else "–"),
              ("uploaded", f"{when(algorithm.created_at)} {algorithm.created_by}")]
    history = {"headers": ["stage", "at", "by", "reason"],
               "rows": [[h.stage.value, when(h.at), h.by, h.reason] for h in algorithm.stage_history]}
    explainer = url("conveyor_explainer") + f"?model_name={name}&version={version}&evaluate_on=testing"
    return render(request, "detail.html", site, f"{name} v{version}", [("Algorithms", url("conveyor_algorithms")),
                  (f"{name} v{version}", None)], fields=fields, tables=[("Stage history", history)],
                  blocks=[("Metrics", json.dumps(algorithm.metrics, indent=2))],
                  actions=[{"url": here, "form": StageForm(initial={"stage": algorithm.stage.value}),
                            "label": "Change stage"},
                           {"url": here, "post": True, "name": "_promote", "label": "Promote and move services"},
                           {"url": explainer, "label": "Explainer dashboard"},
                           {"url": here, "post": True, "name": "_delete", "label": "Delete version",
                            "css": "deletelink", "confirm": f"Delete {name} v{version}?"}])
