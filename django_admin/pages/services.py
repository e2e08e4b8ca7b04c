"""Services: which model a queue's workers apply; assignment, champion and challenger, enabled, retraining policy.

The service page shows where the champion and the challenger stand (mode, share, the workers' health report
on the challenger, monitoring_api's latest verdict), edits the assignment and the policies, and leads to the
promotion of the challenger through a confirmation page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.challenger import ChallengerPoint, ChallengerVerdict
from conveyor.schemas.services import (
    ChallengerMode,
    ChallengerPromoted,
    ChallengerPromotion,
    OldChampion,
    Service,
    ServiceChange,
    ServiceCreate,
    ServiceUpdate,
)
from django_admin import platform
from django_admin.dashboards.challenger_figures import verdict_line
from django_admin.forms import PromoteChallengerForm, ServiceForm, parse_ref
from django_admin.pages.common import add_page, attempt, delete_page, link, log, render, save, url, when

CRUMBS = [("Services", None)]
# The fields sent only when they changed: a re-sent assignment would be no reassignment, and a mode sent along
# with a challenger being removed would keep the service from going back to champion only.
DIFFED = ("algorithm", "challenger", "challenger_mode")
HISTORY_SHOWN = 20
# The service page waits this long for monitoring_api's latest verdict, then shows the page without it.
VERDICT_TIMEOUT = 10.0
VERDICT_CSS = {ChallengerVerdict.challenger_better: "status-ok", ChallengerVerdict.challenger_worse: "status-failed",
               ChallengerVerdict.not_significant: "status-queued"}


def promote_url(name: str) -> str:
    return reverse("conveyor_service_promote", args=[name])


def _ref(ref: Any) -> str:
    return f"{ref.name} v{ref.version}" if ref else "–"


def _challenger_cell(service: Service) -> str:
    if not service.challenger:
        return "–"
    if service.challenger_mode is ChallengerMode.shadow:
        return f"{_ref(service.challenger)} (shadow)"
    return f"{_ref(service.challenger)} ({service.challenger_share:.0%})"


def list_view(site: AdminSite, request: HttpRequest) -> HttpResponse:
    services = attempt(request, lambda: platform.qm(lambda c: c.list_services()), [])
    rows = [[link(s.name, url("conveyor_service", s.name)), s.dataset, s.queue, _ref(s.algorithm),
             _challenger_cell(s), "yes" if s.enabled else "no", ", ".join(t.value for t in s.retraining.on) or "off",
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

    def create() -> Any:
        body = ServiceCreate(**form.body())  # refused: `save` puts each of the schema's problems on its box
        return platform.qm(lambda c: c.create_service(body))

    return add_page(site, request, form, "service", create)


def _initial(service: Service) -> dict[str, Any]:
    def ref(r: Any) -> str:
        return f"{r.name}:{r.version}" if r else ""

    policy = service.challenger_policy
    return {"name": service.name, "dataset": service.dataset, "queue": service.queue,
            "algorithm": ref(service.algorithm), "challenger": ref(service.challenger),
            "challenger_mode": service.challenger_mode.value if service.challenger_mode else "",
            "challenger_share": service.challenger_share, "challenger_auto_promote": policy.auto_promote,
            "challenger_min_labelled_rows": policy.min_labelled_rows, "challenger_confidence": policy.confidence,
            "challenger_old_champion": policy.old_champion.value, "enabled": service.enabled,
            "description": service.description, "retrain_on": [t.value for t in service.retraining.on],
            "retrain_auto_promote": service.retraining.auto_promote, "retrain_margin": service.retraining.margin}


def latest_comparison(name: str) -> tuple[ChallengerPoint | None, str | None]:
    """monitoring_api's latest scheduled comparison of the service, or why it cannot be had (the page shows
    either; an unreachable monitoring_api does not keep the service from being edited)."""
    try:
        history = platform.monitoring(lambda c: c.challenger_history(name, limit=1), timeout=VERDICT_TIMEOUT)
    except platform.PlatformError as exc:
        return None, exc.message
    return (history.points[-1] if history.points else None), None


def _verdict_cell(service: Service, point: ChallengerPoint | None, error: str | None) -> Any:
    if error:
        return f"unavailable: {error}"
    if point is None:
        if service.challenger:
            return ("no comparison yet: monitoring_api compares the models on its schedule once both have "
                    "labelled rows (see the Real-time monitoring dashboard)")
        return "–"
    return {"text": verdict_line(point), "css": VERDICT_CSS[point.verdict]}


def _health_cell(service: Service) -> Any:
    health = service.challenger_health
    if not service.challenger:
        return "–"
    if health is None:
        return "no report: no worker has had trouble with it"
    where = f" (worker {health.worker or '?'}, {when(health.at)})"
    text = f"{health.state}: {health.error}" if health.error else health.state
    return {"text": text + where, "css": "status-ok" if health.state == "ok" else "status-failed"}


def _champion_health_cell(service: Service) -> Any:
    """The workers' report on loading the champion: a champion that does not load leaves them on the previous one,
    or with the messages waiting in the queue."""
    health = service.champion_health
    if health is None:
        return "no report: every worker loaded it"
    where = f" (worker {health.worker or '?'}, {when(health.at)})"
    text = f"{health.state}: {health.error}" if health.error else health.state
    if health.state == "ok":
        return {"text": text + where, "css": "status-ok"}
    serving = _ref(health.serving) if health.serving else "nothing: messages wait in the queue"
    return {"text": f"{text}{where}; serving {serving}", "css": "status-failed"}


def _mode_cell(service: Service) -> str:
    if not service.challenger:
        return "– (champion only)"
    if service.challenger_mode is ChallengerMode.shadow:
        return ("shadow: both models predict every record; the champion's prediction is served, the "
                "challenger's stored beside it")
    return "split: the challenger predicts and serves a stable share of records (by a hash of record_id)"


def status_fields(service: Service, point: ChallengerPoint | None, error: str | None) -> list[tuple[str, Any]]:
    """Where the champion and the challenger stand, as the page's first table."""
    def model(ref: AlgorithmRef | None) -> Any:
        return link(_ref(ref), url("conveyor_algorithm", ref.name, ref.version)) if ref else "–"

    policy = service.challenger_policy
    fields: list[tuple[str, Any]] = [("champion", model(service.algorithm)), ("challenger", model(service.challenger)),
                                     ("challenger mode", _mode_cell(service))]
    if service.challenger and service.challenger_mode is not ChallengerMode.shadow:
        fields.append(("challenger share", f"{service.challenger_share:.0%} of records"))
    fields += [
        ("champion health", _champion_health_cell(service)),
        ("challenger health", _health_cell(service)),
        ("latest verdict", _verdict_cell(service, point, error)),
        *([("why the verdict", point.reason)] if point else []),
        ("auto-promotion", f"{'on' if policy.auto_promote else 'off'}: a verdict needs "
                           f"{policy.min_labelled_rows:,} labelled rows per model at {policy.confidence:.1%} "
                           f"confidence; an automatic promotion "
                           f"{'archives' if policy.old_champion is OldChampion.archive else 'keeps'} the old "
                           f"champion{'' if policy.old_champion is OldChampion.archive else ' as challenger'}"),
        ("assignment revision", f"{service.assignment_revision} (workers reload the models when it changes)"),
    ]
    return fields


def history_table(changes: list[ServiceChange]) -> dict[str, Any]:
    def assignment(change: ServiceChange) -> str:
        if not change.challenger:
            return f"{_ref(change.algorithm)} alone"
        mode = change.challenger_mode.value if change.challenger_mode else "split"
        share = f" {change.challenger_share:.0%}" if mode == "split" else ""
        return f"{_ref(change.algorithm)} vs {_ref(change.challenger)} ({mode}{share})"

    return {"headers": ["at", "what", "by", "champion vs challenger after it", "why"],
            "rows": [[when(c.at), c.kind.replace("_", " "), c.by or "–", assignment(c), c.reason or "–"]
                     for c in changes]}


def _changes(form: ServiceForm, service: Service) -> dict[str, Any]:
    """What the person changed, as a ServiceUpdate's fields."""
    body = form.body()
    body.pop("name")
    current = _initial(service)
    sent = {k: v for k, v in body.items() if k not in DIFFED}
    for key in DIFFED:
        if form.cleaned_data[key] != current[key]:
            sent[key] = body[key]
    return sent


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
    user = request.user.get_username()
    if request.method == "POST" and form.is_valid():
        sent = _changes(form, service)

        def update() -> Service:
            body = ServiceUpdate(**sent)  # refused: `save` puts each of the schema's problems on its box
            return platform.qm(lambda c: c.update_service(name, body, by=user))

        if save(form, update) is not None:
            log(request, "change", f"service {name}", f"changed {sorted(sent)} through the admin")
            messages.success(request, f"Service {name} saved.")
            return redirect(here)
    point, error = latest_comparison(name)
    changes = attempt(request, lambda: platform.qm(lambda c: c.service_history(name, limit=HISTORY_SHOWN)), [])
    return render(request, "service.html", site, f"Service {name}", [("Services", url("conveyor_services")),
                  (name, None)], service=service, fields=status_fields(service, point, error), form=form,
                  promote_url=promote_url(name) if service.challenger else None, history=history_table(changes),
                  history_shown=HISTORY_SHOWN, delete_url=here)


def promotion_message(user: str, promoted: ChallengerPromoted, old_champion: OldChampion,
                      point: ChallengerPoint | None) -> str:
    """The admin log's entry: who promoted which model over which, what became of the old one, and why."""
    previous = _ref(promoted.previous_champion)
    fate = "archived" if old_champion is OldChampion.archive else "kept as challenger"
    verdict = f"; latest verdict then: {point.verdict.value} ({point.reason})" if point else ""
    return (f"{user} promoted challenger {_ref(promoted.champion)} to champion of service {promoted.service}, "
            f"replacing {previous} ({fate}); reason: {promoted.reason or 'none given'}{verdict}")


def promote_view(site: AdminSite, request: HttpRequest, name: str) -> HttpResponse:
    """GET: what a promotion would do, and a form to confirm it. POST: promote through queue_manager."""
    here = url("conveyor_service", name)
    service = attempt(request, lambda: platform.qm(lambda c: c.get_service(name)), None)
    if service is None:
        return redirect(url("conveyor_services"))
    if service.challenger is None:
        messages.error(request, f"Service {name} has no challenger to promote: choose one on this page first.")
        return redirect(here)
    seen = f"{service.challenger.name}:{service.challenger.version}"
    form = PromoteChallengerForm(request.POST or None,
                                 initial={"expected": seen, "old_champion": OldChampion.archive.value})
    point, error = latest_comparison(name)
    # A verdict counts for this promotion only if it compared these two models.
    current = point if point and (point.champion.model, point.challenger.model) == (
        service.algorithm, service.challenger) else None
    if request.method == "POST" and form.is_valid():
        user = request.user.get_username()
        old_champion = OldChampion(form.cleaned_data["old_champion"])
        expected = parse_ref(form.cleaned_data["expected"])
        promotion = ChallengerPromotion(old_champion=old_champion, by=user, reason=form.cleaned_data["reason"],
                                        expected_challenger=AlgorithmRef(**expected) if expected else None)
        try:
            promoted = platform.qm(lambda c: c.promote_challenger(name, promotion))
        except platform.PlatformError as exc:
            # Refused (the challenger changed meanwhile, or is gone): the service page shows how it stands now.
            messages.error(request, f"Not promoted: {exc.message}")
            return redirect(here)
        log(request, "change", f"service {name}", promotion_message(user, promoted, old_champion, current))
        fate = ("archived" if old_champion is OldChampion.archive
                else f"is now the challenger ({service.challenger_mode.value if service.challenger_mode else 'split'})")
        messages.success(request, f"Promoted {_ref(promoted.champion)} to champion of {name}; "
                                  f"{_ref(promoted.previous_champion)} {fate}. Workers swap models between batches.")
        return redirect(here)
    return render(request, "promote.html", site, f"Promote the challenger of {name}",
                  [("Services", url("conveyor_services")), (name, here), ("Promote challenger", None)],
                  service=service, form=form, cancel_url=here, verdict=_verdict_cell(service, point, error),
                  doubtful=current is None or current.verdict is not ChallengerVerdict.challenger_better,
                  champion=_ref(service.algorithm), challenger=_ref(service.challenger),
                  mode=service.challenger_mode.value if service.challenger_mode else "split",
                  reason=point.reason if point else None)
