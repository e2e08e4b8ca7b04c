"""Datasets: schemas registered in queue_manager (ml_data_api makes their tables on first use)."""

from __future__ import annotations

import json

from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from conveyor.schemas.datasets import DatasetSchema
from django_admin import platform
from django_admin.forms import DatasetForm
from django_admin.pages.common import add_page, attempt, delete_page, link, render, url, when

CRUMBS = [("Datasets", None)]


def list_view(site: AdminSite, request: HttpRequest) -> HttpResponse:
    datasets = attempt(request, lambda: platform.qm(lambda c: c.list_datasets()), [])
    rows = [[link(d.name, url("conveyor_dataset", d.name)), d.task.value, len(d.features), d.target,
             when(d.created_at)] for d in datasets]
    return render(request, "list.html", site, "Datasets", CRUMBS, headers=["name", "task", "features", "target",
                  "created"], rows=rows, add_url=url("conveyor_dataset_add"), add_label="Add dataset")


def add_view(site: AdminSite, request: HttpRequest) -> HttpResponse:
    form = DatasetForm(request.POST or None)
    return add_page(site, request, form, "dataset",
                    lambda: platform.qm(lambda c: c.create_dataset(DatasetSchema(**form.schema()))))


def detail_view(site: AdminSite, request: HttpRequest, name: str) -> HttpResponse:
    if request.method == "POST":
        return delete_page(request, "dataset", name, lambda: platform.qm(lambda c: c.delete_dataset(name)))
    dataset = attempt(request, lambda: platform.qm(lambda c: c.get_dataset(name)), None)
    if dataset is None:
        return redirect(url("conveyor_datasets"))
    counts = attempt(request, lambda: platform.ml(lambda c: c.counts(name)), None)
    fields = [("name", dataset.name), ("task", dataset.task.value), ("target", f"{dataset.target} "
              f"({dataset.target_type.value if dataset.target_type else ''})"),
              ("rows", counts.model_dump() if counts else "unknown"), ("created", when(dataset.created_at))]
    features = {"headers": ["feature", "type"], "rows": [[f.name, f.type.value] for f in dataset.features]}
    return render(request, "detail.html", site, f"Dataset {name}", [("Datasets", url("conveyor_datasets")),
                  (name, None)], fields=fields, tables=[("Features", features)],
                  blocks=[("Schema", json.dumps(dataset.model_dump(mode="json"), indent=2))],
                  actions=[{"url": "", "post": True, "label": "Delete dataset", "css": "deletelink",
                            "confirm": f"Delete dataset {name}?"}])
