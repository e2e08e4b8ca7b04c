"""What workers report about a service's challenger: stored on the service; a change of state is history.

Workers report on a change of state only, but several replicas may report the same change: the write is
conditional on the state it replaces, so one of them records the change (history entry, event) and the
others find the state already there.
"""

from __future__ import annotations

from typing import Any

from conveyor.api.errors import Conflict
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ChallengerHealth
from queue_manager import service_history
from queue_manager.models import ServiceDoc, now
from queue_manager.services_store import WRITE_ATTEMPTS, assignment_of, changed_meanwhile, get_service

OK = "ok"  # a challenger nobody reported about yet counts as ok: nothing failed


def _label(ref: AlgorithmRef) -> str:
    return f"{ref.name!r} v{ref.version}"


def _current_challenger(doc: ServiceDoc, report: ChallengerHealth) -> AlgorithmRef:
    if not doc.challenger:
        raise Conflict(f"service {doc.name!r} has no challenger: there is nothing to report about (a worker "
                       f"that still applies one has not learnt of the change yet)")
    challenger = AlgorithmRef(**doc.challenger)
    if report.challenger is not None and report.challenger != challenger:
        raise Conflict(f"the report is about {_label(report.challenger)} but the challenger of service "
                       f"{doc.name!r} is now {_label(challenger)}: the worker has not swapped yet, the report "
                       f"is stale")
    return challenger


def _reason(report: ChallengerHealth, challenger: AlgorithmRef) -> str:
    if report.state == OK:
        return f"challenger {_label(challenger)} predicts again"
    return f"challenger {_label(challenger)} fails: {report.error or 'no error given'}"


def report_health(name: str, report: ChallengerHealth) -> tuple[ServiceDoc, dict[str, Any] | None]:
    """Store the report; answer the service and, when the state changed, the event to publish."""
    for _ in range(WRITE_ATTEMPTS):
        doc = get_service(name)
        challenger = _current_challenger(doc, report)
        stored: dict[str, Any] = {**report.model_dump(mode="python"), "challenger": challenger.model_dump(),
                                  "at": report.at or now()}
        previous = (doc.challenger_health or {}).get("state")
        changed = (previous or OK) != report.state
        raw: dict[str, Any] = {"$set": {"challenger_health": stored}}
        if changed:
            raw["$push"] = service_history.push(service_history.entry(
                "challenger_health", assignment_of(doc), report.worker or "worker", _reason(report, challenger)))
        # Conditional on the revision (same challenger) and on the state it replaces (one writer per change).
        result = ServiceDoc._get_collection().update_one(
            {"_id": doc.pk, "assignment_revision": doc.assignment_revision, "challenger_health.state": previous},
            raw)
        if result.matched_count == 1:
            event = {"event": "challenger_health", "service": name,
                     **ChallengerHealth(**stored).model_dump(mode="json")} if changed else None
            return get_service(name), event
    raise changed_meanwhile(name)
