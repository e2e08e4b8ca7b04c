"""Promotion: a service's challenger becomes its champion; the old champion is archived or kept as challenger.

The service changes in one conditional write (a promotion racing another change is worked out again, so
`expected_challenger` is checked against what is really replaced); the stages follow: the new champion is
production, an archived old champion is archived unless another service still applies it.
"""

from __future__ import annotations

from typing import Any

from conveyor.api.errors import Conflict
from conveyor.schemas.algorithms import AlgorithmRef, Stage, StageUpdate
from conveyor.schemas.services import ChallengerPromoted, ChallengerPromotion, OldChampion
from queue_manager import service_history
from queue_manager.algorithms_store import change_stage, get_algorithm
from queue_manager.models import ServiceDoc, now
from queue_manager.services_store import (
    WRITE_ATTEMPTS,
    assignment_of,
    changed_meanwhile,
    get_service,
    write_if_unchanged,
)


def _label(ref: AlgorithmRef) -> str:
    return f"{ref.name!r} v{ref.version}"


def _replaced(doc: ServiceDoc, body: ChallengerPromotion) -> tuple[AlgorithmRef, AlgorithmRef | None]:
    """The challenger to promote and the champion it replaces; 409 when there is none or another one."""
    if not doc.challenger:
        raise Conflict(f"service {doc.name!r} has no challenger to promote: set one first with PATCH "
                       f"/queue_manager/services/{doc.name} {{\"challenger\": {{\"name\": ..., \"version\": ...}}}}")
    challenger = AlgorithmRef(**doc.challenger)
    expected = body.expected_challenger
    if expected is not None and expected != challenger:
        raise Conflict(f"the challenger of service {doc.name!r} is {_label(challenger)}, not {_label(expected)}: "
                       f"a verdict about one model never promotes another; compare the current challenger again")
    return challenger, AlgorithmRef(**doc.algorithm) if doc.algorithm else None


def _used_elsewhere(ref: AlgorithmRef, service: str) -> bool:
    as_stored = ref.model_dump()
    users = ServiceDoc.objects(__raw__={"name": {"$ne": service},
                                        "$or": [{"algorithm": as_stored}, {"challenger": as_stored}]})
    return users.count() > 0


def _move_stages(service: str, champion: AlgorithmRef, archived: AlgorithmRef | None, by: str,
                 reason: str) -> None:
    why = f"promoted from challenger to champion of service {service!r}" + (f": {reason}" if reason else "")
    if get_algorithm(champion.name, champion.version).stage != Stage.production.value:
        # The name's other production versions may still serve (an old champion kept as challenger, or
        # other services): they keep their stage.
        change_stage(champion.name, champion.version,
                     StageUpdate(stage=Stage.production, by=by, reason=why, archive_previous=False))
    # A model another service still applies keeps serving there, so it is not archived.
    if archived is not None and not _used_elsewhere(archived, service):
        change_stage(archived.name, archived.version, StageUpdate(
            stage=Stage.archived, by=by, archive_previous=False,
            reason=f"replaced as champion of service {service!r} by {_label(champion)}"))


def promote(name: str, body: ChallengerPromotion, by: str = "") -> tuple[ServiceDoc, ChallengerPromoted]:
    """Promote the service's challenger; answer the service after it and the promotion (the event's body)."""
    who = body.by or by or service_history.DEFAULT_BY
    for _ in range(WRITE_ATTEMPTS):
        doc = get_service(name)
        challenger, champion = _replaced(doc, body)
        keep = body.old_champion is OldChampion.challenger and champion is not None
        before = assignment_of(doc)
        after: dict[str, Any] = {
            **before, "algorithm": challenger.model_dump(),
            "challenger": champion.model_dump() if keep and champion else None,
            "challenger_mode": before["challenger_mode"] if keep else None,
        }
        change = service_history.entry("challenger_promoted", after, who, body.reason)
        raw = {"$set": {**after, "challenger_health": None, "champion_health": None, "updated_at": now()},
               "$inc": {"assignment_revision": 1}, "$push": service_history.push(change)}
        if write_if_unchanged(doc, raw):
            break
    else:
        raise changed_meanwhile(name)
    _move_stages(name, challenger, None if keep else champion, who, body.reason)
    doc = get_service(name)
    promoted = ChallengerPromoted(
        service=name, champion=challenger, previous_champion=champion,
        challenger=champion if keep else None, by=who, reason=body.reason,
        assignment_revision=doc.assignment_revision, at=change["at"],
    )
    return doc, promoted
