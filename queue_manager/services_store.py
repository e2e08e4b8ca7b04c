"""Services: which model (and challenger) a worker applies to which queue."""

from __future__ import annotations

from typing import Any

from mongoengine.errors import NotUniqueError

from conveyor.api.errors import Conflict, NotFound, Unprocessable
from conveyor.schemas.services import AssignmentEvent, ChallengerMode, ServiceCreate, ServiceUpdate
from queue_manager import service_history
from queue_manager.algorithms_store import get_algorithm
from queue_manager.datasets_store import get_dataset
from queue_manager.models import ServiceChangeDoc, ServiceDoc, now

# The fields workers act on: a change of any of them is a new assignment (revision + 1, an event).
ASSIGNMENT_FIELDS = ("algorithm", "challenger", "challenger_mode", "challenger_share", "enabled")
# A write that finds the revision moved (another change came first) is worked out again from the new state.
WRITE_ATTEMPTS = 5


def stored_mode(doc: ServiceDoc) -> str | None:
    """The challenger's mode; a challenger stored before modes existed was a split (A/B) one."""
    if not doc.challenger:
        return None
    return doc.challenger_mode or ChallengerMode.split.value


def assignment_of(doc: ServiceDoc) -> dict[str, Any]:
    return {"algorithm": doc.algorithm or None, "challenger": doc.challenger or None,
            "challenger_mode": stored_mode(doc), "challenger_share": doc.challenger_share,
            "enabled": doc.enabled}


def service_to_api(doc: ServiceDoc) -> dict[str, Any]:
    return {
        "name": doc.name, "dataset": doc.dataset, "queue": doc.queue,
        **assignment_of(doc),
        "challenger_policy": doc.challenger_policy or {},
        "challenger_health": doc.challenger_health or None,
        "champion_health": doc.champion_health or None,
        "payload_key": doc.payload_key, "description": doc.description,
        "retraining": doc.retraining or {},
        "assignment_revision": doc.assignment_revision,
        "created_at": doc.created_at, "updated_at": doc.updated_at,
    }


def _ref(ref: dict[str, Any]) -> str:
    return f"{ref['name']!r} v{ref['version']}"


def _check_model(ref: dict[str, Any] | None, dataset: str, role: str) -> dict[str, Any] | None:
    if not ref:
        return None
    doc = get_algorithm(ref["name"], ref["version"])
    if doc.dataset != dataset:
        raise Unprocessable(
            f"{role} {doc.name!r} v{doc.version} was trained for dataset {doc.dataset!r}, "
            f"not {dataset!r}"
        )
    return {"name": doc.name, "version": doc.version}


def resolve_assignment(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The assignment a create or update leads to, by the challenger rules; 422 when it makes no sense."""
    new = {**current, **{field: changes[field] for field in ASSIGNMENT_FIELDS if field in changes}}
    if "challenger" in changes and changes["challenger"] is None and "challenger_mode" not in changes:
        new["challenger_mode"] = None  # removing the challenger returns the service to champion only at once
    if ("algorithm" in changes and "challenger" not in changes and new["challenger"]
            and new["algorithm"] == new["challenger"]):
        # The challenger was made the champion through the algorithm field (retraining_api's promotion moves
        # services this way): it no longer competes with itself, the service is champion only.
        new["challenger"], new["challenger_mode"] = None, None
    mode = new["challenger_mode"]
    if mode and not new["challenger"]:
        raise Unprocessable(f"challenger_mode {mode} needs a challenger: set challenger={{name, version}} "
                            f"or remove challenger_mode")
    if new["challenger"]:
        if not mode:
            new["challenger_mode"] = ChallengerMode.split.value  # what a challenger meant before modes existed
        if not new["algorithm"]:
            raise Unprocessable(f"challenger {_ref(new['challenger'])} has no champion to compete with: set "
                                f"algorithm={{name, version}} too")
        if new["challenger"] == new["algorithm"]:
            raise Unprocessable(f"challenger {_ref(new['challenger'])} is the champion itself: choose another "
                                f"model (or version) as challenger, or send challenger=null")
    return new


def assignment_event(doc: ServiceDoc) -> AssignmentEvent:
    mode = stored_mode(doc)
    return AssignmentEvent(
        service=doc.name, queue=doc.queue, algorithm=doc.algorithm or None,
        challenger=doc.challenger or None, challenger_mode=ChallengerMode(mode) if mode else None,
        challenger_share=doc.challenger_share,
        enabled=doc.enabled, assignment_revision=doc.assignment_revision, at=now(),
    )


def list_services(name: str | None = None, dataset: str | None = None) -> list[ServiceDoc]:
    filters = {"name": name, "dataset": dataset}
    query = ServiceDoc.objects(**{field: value for field, value in filters.items() if value})
    return list(query.exclude("history").order_by("name"))


def get_service(name: str) -> ServiceDoc:
    # The history stays in the database: it has its own route, and workers poll this.
    doc = ServiceDoc.objects(name=name).exclude("history").first()
    if doc is None:
        raise NotFound(f"service {name!r} not found: create it with POST /queue_manager/services")
    return doc


def delete_service(name: str) -> None:
    get_service(name).delete()


def write_if_unchanged(doc: ServiceDoc, update: dict[str, Any]) -> bool:
    """Apply a raw update unless the service's assignment moved since `doc` was read."""
    result = ServiceDoc._get_collection().update_one(
        {"_id": doc.pk, "assignment_revision": doc.assignment_revision}, update)
    return result.matched_count == 1


def changed_meanwhile(name: str) -> Conflict:
    return Conflict(f"service {name!r} kept changing while this request was applied: send it again")


def create_service(body: ServiceCreate, by: str = "") -> ServiceDoc:
    get_dataset(body.dataset)
    data = body.model_dump(mode="json")
    data["algorithm"] = _check_model(data["algorithm"], body.dataset, "algorithm")
    data["challenger"] = _check_model(data["challenger"], body.dataset, "challenger")
    empty = {"algorithm": None, "challenger": None, "challenger_mode": None, "challenger_share": 0.0,
             "enabled": True}
    data.update(resolve_assignment(empty, data))
    created = service_history.entry("created", data, by)
    doc = ServiceDoc(**data, assignment_revision=1, history=[ServiceChangeDoc(**created)])
    try:
        doc.save(force_insert=True)
    except NotUniqueError as exc:
        raise Conflict(f"service {body.name!r} already exists") from exc
    return get_service(body.name)


def _checked_models(doc: ServiceDoc, changes: dict[str, Any]) -> dict[str, Any]:
    checked = dict(changes)
    dataset = changes.get("dataset") or doc.dataset
    if "dataset" in changes:
        get_dataset(dataset)
    for role in ("algorithm", "challenger"):
        if role in changes:
            checked[role] = _check_model(changes[role], dataset, role)
        elif "dataset" in changes and getattr(doc, role):
            _check_model(getattr(doc, role), dataset, role)
    return checked


def update_service(name: str, update: ServiceUpdate, by: str = "") -> tuple[ServiceDoc, bool]:
    """Apply the fields sent; answer the service and whether its assignment changed."""
    sent = update.changes()
    for _ in range(WRITE_ATTEMPTS):
        doc = get_service(name)
        changes = _checked_models(doc, sent)
        # Compare with what is stored as it is: `enabled=False` or a 0.0 share re-sent is no change.
        current = assignment_of(doc)
        new = resolve_assignment(current, changes)
        fields = {field: value for field, value in changes.items() if field not in ASSIGNMENT_FIELDS}
        fields.update(new, updated_at=now())
        # A report about the previous model says nothing of this one.
        if new["challenger"] != current["challenger"]:
            fields["challenger_health"] = None
        if new["algorithm"] != current["algorithm"]:
            fields["champion_health"] = None
        raw: dict[str, Any] = {"$set": fields}
        assignment_changed = new != current
        if assignment_changed:
            raw["$inc"] = {"assignment_revision": 1}
            raw["$push"] = service_history.push(service_history.entry(
                "assignment", new, by, service_history.describe(current, new)))
        if write_if_unchanged(doc, raw):
            return get_service(name), assignment_changed
    raise changed_meanwhile(name)
