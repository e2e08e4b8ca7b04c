"""What workers report about a service's models (the challenger's predictions, the champion's loading): stored
on the service; a change of state is history and an event.

Workers report on a change of state only, but several replicas may report the same change: the write is
conditional on the state it replaces, so one of them records the change (history entry, event) and the
others find the state already there. It is conditional on the assignment revision too, so a report about a
model the service no longer has is never stored (queue_manager clears a role's report when its model changes).
"""

from __future__ import annotations

from typing import Any

from conveyor.api.errors import Conflict
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ChallengerHealth, ChampionHealth, ModelHealthReport
from queue_manager import service_history
from queue_manager.models import ServiceDoc, now
from queue_manager.services_store import WRITE_ATTEMPTS, assignment_of, changed_meanwhile, get_service

OK = "ok"  # a model nobody reported about yet counts as ok: nothing failed


def _label(ref: AlgorithmRef) -> str:
    return f"{ref.name!r} v{ref.version}"


def _current(doc: ServiceDoc, role: str, about: AlgorithmRef | None) -> AlgorithmRef:
    """The service's model of this role; 409 when it has none or the report is about another one."""
    stored = doc.challenger if role == "challenger" else doc.algorithm
    if not stored:
        raise Conflict(f"service {doc.name!r} has no {role}: there is nothing to report about (a worker that "
                       f"still applies one has not learnt of the change yet)")
    model = AlgorithmRef(**stored)
    if about is not None and about != model:
        raise Conflict(f"the report is about {_label(about)} but the {role} of service {doc.name!r} is now "
                       f"{_label(model)}: the worker has not swapped yet, the report is stale")
    return model


def _challenger_reason(report: ModelHealthReport, model: AlgorithmRef) -> str:
    if report.state == OK:
        return f"challenger {_label(model)} predicts again"
    return f"challenger {_label(model)} fails: {report.error or 'no error given'}"


def _champion_reason(report: ModelHealthReport, model: AlgorithmRef) -> str:
    if report.state == OK:
        return f"champion {_label(model)} loads again"
    serving = report.serving if isinstance(report, ChampionHealth) else None
    meanwhile = f"the worker serves {_label(serving)}" if serving else "the messages wait in the queue"
    return f"champion {_label(model)} does not load: {report.error or 'no error given'}; {meanwhile}"


def _store(name: str, role: str, about: AlgorithmRef | None,
           report: ChallengerHealth | ChampionHealth) -> tuple[ServiceDoc, dict[str, Any] | None]:
    field = f"{role}_health"
    for _ in range(WRITE_ATTEMPTS):
        doc = get_service(name)
        model = _current(doc, role, about)
        stored: dict[str, Any] = {**report.model_dump(mode="python"), role: model.model_dump(),
                                  "at": report.at or now()}
        previous = (getattr(doc, field) or {}).get("state")
        changed = (previous or OK) != report.state
        raw: dict[str, Any] = {"$set": {field: stored}}
        if changed:
            reason = (_challenger_reason if role == "challenger" else _champion_reason)(report, model)
            raw["$push"] = service_history.push(service_history.entry(
                field, assignment_of(doc), report.worker or "worker", reason))
        # Conditional on the revision (same model) and on the state it replaces (one writer per change).
        result = ServiceDoc._get_collection().update_one(
            {"_id": doc.pk, "assignment_revision": doc.assignment_revision, f"{field}.state": previous}, raw)
        if result.matched_count == 1:
            event = {"event": field, "service": name,
                     **type(report)(**stored).model_dump(mode="json")} if changed else None
            return get_service(name), event
    raise changed_meanwhile(name)


def report_health(name: str, report: ChallengerHealth) -> tuple[ServiceDoc, dict[str, Any] | None]:
    """Store a report on the challenger; answer the service and, when the state changed, the event to publish."""
    return _store(name, "challenger", report.challenger, report)


def report_champion_health(name: str, report: ChampionHealth) -> tuple[ServiceDoc, dict[str, Any] | None]:
    """Store a report on loading the champion; answer the service and, when the state changed, the event."""
    return _store(name, "champion", report.champion, report)
