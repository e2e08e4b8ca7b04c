"""Retraining runs: start, follow (the page refreshes while a run works), promote, explain."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from conveyor.schemas.retraining import RunCreate, RunStatus
from django_admin import platform
from django_admin.forms import RunForm
from django_admin.pages.common import attempt, filter_fields, link, log, query_values, render, save, status, url, when

ACTIVE = (RunStatus.waiting_for_labels, RunStatus.queued, RunStatus.running)
SCORES = ("Model", "MAE", "MSE", "RMSE", "R2", "RMSLE", "MAPE", "Accuracy", "AUC", "F1")


def list_view(site: AdminSite, request: HttpRequest) -> HttpResponse:
    filters = query_values(request, "dataset", "algorithm", "status")
    runs = attempt(request, lambda: platform.retraining(lambda c: c.list_runs(**filters, limit=200)), [])
    rows = [[link(f"run {r.id}", url("conveyor_run", r.id)), r.dataset, r.algorithm, status(r.status.value),
             f"{r.progress.stage} ({r.progress.percent:.0f}%)", f"v{r.new_version}" if r.new_version else "–",
             "yes" if r.promoted else "no", (r.trigger or {}).get("event", "by hand"), when(r.created_at)]
            for r in runs]
    return render(request, "list.html", site, "Retraining runs", [("Retraining runs", None)], rows=rows,
                  add_url=url("conveyor_run_add"), add_label="Start a retraining run",
                  refresh=5 if any(r.status in ACTIVE for r in runs) else None,
                  headers=["run", "dataset", "model", "status", "progress", "new version", "promoted", "trigger",
                           "created"],
                  filters=filter_fields(filters, labels={"algorithm": "model"},
                                        choices={"status": [s.value for s in RunStatus]}))


def add_view(site: AdminSite, request: HttpRequest) -> HttpResponse:
    datasets = [d.name for d in attempt(request, lambda: platform.qm(lambda c: c.list_datasets()), [])]
    initial = {k: request.GET[k] for k in ("dataset", "algorithm") if k in request.GET}
    form = RunForm(request.POST or None, datasets=datasets, initial=initial)
    if request.method == "POST" and form.is_valid():
        accepted = save(form, lambda: platform.retraining(lambda c: c.start_run(RunCreate(**form.body())),
                                                          timeout=120))
        if accepted is not None:
            d = form.cleaned_data
            log(request, "add", f"retraining run {accepted.id}", f"started for {d['algorithm']} on {d['dataset']}")
            messages.success(request, f"Run {accepted.id} queued; this page follows it.")
            return redirect(url("conveyor_run", accepted.id))
    return render(request, "form.html", site, "Start a retraining run", [("Retraining runs", url("conveyor_runs")),
                  ("Start", None)], form=form, submit="Start run",
                  intro="The run executes in the background; the API answers at once and the run page follows it.")


def _scores_table(comparison: dict) -> dict:
    new, old = comparison.get("retrained_model_results") or {}, comparison.get("previous_model_results") or {}
    keys = [k for k in SCORES if k in new or k in old]

    def fmt(v: object) -> str:
        return f"{v:.6g}" if isinstance(v, float) else ("–" if v is None else str(v))

    return {"headers": ["score", "retrained model", "previous model"],
            "rows": [[k, fmt(new.get(k)), fmt(old.get(k))] for k in keys]}


def detail_view(site: AdminSite, request: HttpRequest, run_id: int) -> HttpResponse:
    here = url("conveyor_run", run_id)
    if request.method == "POST":
        try:
            promotion = platform.retraining(lambda c: c.promote_run(run_id))
        except platform.PlatformError as exc:
            messages.error(request, exc.message)
        else:
            log(request, "change", f"retraining run {run_id}",
                f"promoted {promotion.algorithm} v{promotion.version}")
            messages.success(request, f"{promotion.algorithm} v{promotion.version} is in production; services "
                                      f"moved to it: {', '.join(promotion.services) or 'none'}.")
        return redirect(here)
    run = attempt(request, lambda: platform.retraining(lambda c: c.get_run(run_id)), None)
    if run is None:
        return redirect(url("conveyor_runs"))
    fields = [("status", status(run.status.value)), ("progress", f"{run.progress.stage} ({run.progress.percent:.0f}%)"),
              ("dataset", run.dataset), ("model", run.algorithm),
              ("previous version", run.previous_version or "–"), ("new version", run.new_version or "–"),
              ("training rows", run.training_rows or "–"), ("holdout rows", run.holdout_rows or "–"),
              ("decision", run.decision.reason if run.decision else "–"), ("promoted", "yes" if run.promoted else "no"),
              ("trigger", run.trigger or "by hand"), ("error", run.error or "–"),
              ("created", when(run.created_at)), ("finished", when(run.finished_at))]
    tables = [("New against previous, on the same holdout rows", _scores_table(run.comparison))] \
        if run.comparison else []
    actions = []
    if run.status is RunStatus.finished and run.new_version:
        actions.append({"url": here, "post": True, "label": "Promote", "name": "_promote"})
        query = urlencode({"model_name": run.algorithm, "version": run.new_version, "evaluate_on": "testing"})
        actions.append({"url": f"{url('conveyor_explainer')}?{query}", "label": "Explainer dashboard"})
    return render(request, "detail.html", site, f"Retraining run {run_id}", [("Retraining runs", url("conveyor_runs")),
                  (f"run {run_id}", None)], fields=fields, tables=tables, actions=actions,
                  blocks=[("Log tail", "\n".join(run.log_tail[-60:]) or "–")],
                  refresh=3 if run.status in ACTIVE else None)
