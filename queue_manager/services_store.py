"""Services: which model (and challenger) a worker applies to which queue."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mongoengine.errors import NotUniqueError

from conveyor.api.errors import Conflict, Unprocessable
from conveyor.schemas.services import AssignmentEvent, ServiceCreate, ServiceUpdate
from queue_manager.algorithms_store import get_algorithm
from queue_manager.datasets_store import get_dataset
from queue_manager.models import ServiceDoc, find_named, now

ASSIGNMENT_FIELDS = ("algorithm", "challenger", "challenger_share", "enabled")


def service_to_api(doc: ServiceDoc) -> dict[str, Any]:
    return {
        "name": doc.name, "dataset": doc.dataset, "queue": doc.queue,
        "algorithm": doc.algorithm or None, "challenger": doc.challenger or None,
        "challenger_share": doc.challenger_share, "enabled": doc.enabled,
        "payload_key": doc.payload_key, "description": doc.description,
        "retraining": doc.retraining or {},
        "assignment_revision": doc.assignment_revision,
        "created_at": doc.created_at, "updated_at": doc.updated_at,
    }


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


def assignment_event(doc: ServiceDoc) -> AssignmentEvent:
    return AssignmentEvent(
        service=doc.name, queue=doc.queue, algorithm=doc.algorithm or None,
        challenger=doc.challenger or None, challenger_share=doc.challenger_share,
        enabled=doc.enabled, assignment_revision=doc.assignment_revision, at=now(),
    )


def list_services(name: str | None = None, dataset: str | None = None) -> list[ServiceDoc]:
    filters = {"name": name, "dataset": dataset}
    query = ServiceDoc.objects(**{field: value for field, value in filters.items() if value})
    return list(query.order_by("name"))


def get_service(name: str) -> ServiceDoc:
    return find_named(ServiceDoc, name, f"service {name!r} not found: create it with POST /queue_manager/services")


def delete_service(name: str) -> None:
    get_service(name).delete()


def create_service(body: ServiceCreate) -> ServiceDoc:
    get_dataset(body.dataset)
    data = body.model_dump(mode="json")
    data["algorithm"] = _check_model(data["algorithm"], body.dataset, "algorithm")
    data["challenger"] = _check_model(data["challenger"], body.dataset, "challenger")
    doc = ServiceDoc(**data, assignment_revision=1)
    try:
        return doc.save(force_insert=True)
    except NotUniqueError as exc:
        raise Conflict(f"service {body.name!r} already exists") from exc


def update_service(name: str, update: ServiceUpdate) -> tuple[ServiceDoc, bool]:
    """Apply the fields sent; answer the service and whether its assignment changed."""
    doc = get_service(name)
    changes = update.model_dump(mode="json", exclude_unset=True)
    dataset = changes.get("dataset") or doc.dataset
    if "dataset" in changes:
        get_dataset(dataset)
    for role in ("algorithm", "challenger"):
        if role in changes:
            changes[role] = _check_model(changes[role], dataset, role)
        elif "dataset" in changes and getattr(doc, role):
            _check_model(getattr(doc, role), dataset, role)
    # Compare with what is stored as it is: `enabled=False` or a 0.0 share re-sent is no change.
    current = {"algorithm": doc.algorithm or None, "challenger": doc.challenger or None,
               "challenger_share": doc.challenger_share, "enabled": doc.enabled}
    assignment_changed = any(
        field in changes and changes[field] != current[field] for field in ASSIGNMENT_FIELDS
    )
    for field, value in changes.items():
        setattr(doc, field, value)
    doc.updated_at = datetime.now(UTC)
    if assignment_changed:
        doc.assignment_revision += 1
    doc.save()
    return doc, assignment_changed
