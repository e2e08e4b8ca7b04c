"""Datasets, algorithms and services: the rules of the registry, apart from HTTP."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, TypeVar

import mongoengine as me
from mongoengine.errors import NotUniqueError
from pymongo import ReturnDocument

from conveyor.api.errors import Conflict, NotFound, Unprocessable
from conveyor.schemas.algorithms import AlgorithmPatch, Stage, StageUpdate
from conveyor.schemas.datasets import DatasetDeleted, DatasetSchema
from conveyor.schemas.services import AssignmentEvent, ServiceCreate, ServiceUpdate
from queue_manager.models import (
    AlgorithmDoc,
    CounterDoc,
    DatasetDoc,
    ServiceDoc,
    StageChangeDoc,
    StoredFileDoc,
    now,
)

ASSIGNMENT_FIELDS = ("algorithm", "challenger", "challenger_share", "enabled")
Named = TypeVar("Named", bound=me.Document)


def _named(document: type[Named], name: str, missing: str) -> Named:
    doc = document.objects(name=name).first()
    if doc is None:
        raise NotFound(missing)
    return doc


# -- datasets
def dataset_to_api(doc: DatasetDoc) -> dict[str, Any]:
    return {**doc.schema, "created_at": doc.created_at, "created_by": doc.created_by}


def create_dataset(schema: DatasetSchema, by: str = "") -> DatasetDoc:
    doc = DatasetDoc(name=schema.name, schema=schema.model_dump(mode="json"), created_by=by)
    try:
        return doc.save(force_insert=True)
    except NotUniqueError as exc:
        raise Conflict(f"dataset {schema.name!r} already exists") from exc


def list_datasets() -> list[DatasetDoc]:
    return list(DatasetDoc.objects.order_by("name"))


def get_dataset(name: str) -> DatasetDoc:
    return _named(DatasetDoc, name, f"dataset {name!r} not found: create it with POST /queue_manager/datasets")


def deletable_dataset(name: str) -> DatasetDoc:
    """The dataset, once sure nothing uses it: services and algorithms are deleted first, on purpose."""
    doc = get_dataset(name)
    users = [s.name for s in ServiceDoc.objects(dataset=name).only("name")]
    if users:
        raise Conflict(
            f"dataset {name!r} is used by service(s) {', '.join(users)}: delete or move them first"
        )
    models = sorted({a.name for a in AlgorithmDoc.objects(dataset=name).only("name")})
    if models:
        raise Conflict(
            f"dataset {name!r} has algorithm(s) {', '.join(models)}: delete them first"
        )
    return doc


def deleted_event(doc: DatasetDoc) -> DatasetDeleted:
    return DatasetDeleted(dataset=doc.name, created_at=doc.created_at, at=now())


def delete_dataset(doc: DatasetDoc) -> None:
    doc.delete()


# -- algorithms
def algorithm_to_api(doc: AlgorithmDoc) -> dict[str, Any]:
    def stored(f: StoredFileDoc | None) -> dict[str, Any] | None:
        return None if f is None else {"filename": f.filename, "size": f.size, "sha256": f.sha256}

    return {
        "name": doc.name, "version": doc.version, "dataset": doc.dataset,
        "framework": doc.framework, "description": doc.description, "metrics": doc.metrics,
        "stage": doc.stage,
        "stage_history": [
            {"stage": h.stage, "at": h.at, "by": h.by, "reason": h.reason} for h in doc.stage_history
        ],
        "file": stored(doc.model_file), "config_file": stored(doc.config_file),
        "created_at": doc.created_at, "created_by": doc.created_by,
    }


def _next_version(name: str) -> int:
    counters = CounterDoc._get_collection()
    doc = counters.find_one_and_update(
        {"_id": f"algorithm:{name}"}, {"$inc": {"seq": 1}}, upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    return int(doc["seq"])


def _stored(content: bytes, filename: str) -> StoredFileDoc:
    stored = StoredFileDoc(filename=filename, size=len(content), sha256=hashlib.sha256(content).hexdigest())
    stored.file.put(content, filename=filename)
    return stored


def create_algorithm(
    *, name: str, dataset: str, model: bytes, filename: str, config: bytes | None,
    config_filename: str | None, framework: str, description: str, metrics: dict[str, Any],
    stage: Stage, by: str = "",
) -> AlgorithmDoc:
    get_dataset(dataset)
    version = _next_version(name)
    doc = AlgorithmDoc(
        name=name, version=version, dataset=dataset, framework=framework,
        description=description, metrics=metrics, stage=stage.value, created_by=by,
        stage_history=[StageChangeDoc(stage=stage.value, by=by, reason="uploaded")],
        model_file=_stored(model, filename),
        config_file=_stored(config, config_filename or "config") if config is not None else None,
    )
    doc.save(force_insert=True)
    if stage is Stage.production:
        _archive_other_production(doc, by)
    return doc


def list_algorithms(
    name: str | None = None, dataset: str | None = None, stage: Stage | None = None
) -> list[AlgorithmDoc]:
    filters = {"name": name, "dataset": dataset, "stage": stage.value if stage else None}
    query = AlgorithmDoc.objects(**{field: value for field, value in filters.items() if value})
    return list(query.order_by("name", "version"))


def algorithm_versions(name: str) -> list[AlgorithmDoc]:
    docs = list(AlgorithmDoc.objects(name=name).order_by("version"))
    if not docs:
        raise NotFound(f"no algorithm named {name!r}")
    return docs


def get_algorithm(name: str, version: int | str) -> AlgorithmDoc:
    versions = AlgorithmDoc.objects(name=name)
    if version == "latest":
        doc = versions.order_by("-version").first()
    elif version == "production":
        doc = versions.filter(stage=Stage.production.value).order_by("-version").first()
    else:
        try:
            number = int(version)
        except ValueError as exc:
            raise Unprocessable(
                f"version {version!r} is not a number, 'latest' or 'production'"
            ) from exc
        doc = versions.filter(version=number).first()
    if doc is None:
        known = sorted(a.version for a in AlgorithmDoc.objects(name=name).only("version"))
        hint = f"known versions: {known}" if known else "no algorithm has that name"
        raise NotFound(f"algorithm {name!r} version {version} not found ({hint})")
    return doc


def read_verified(stored: StoredFileDoc, what: str) -> bytes:
    content = stored.file.read()
    if content is None or hashlib.sha256(content).hexdigest() != stored.sha256:
        raise Conflict(
            f"stored {what} is corrupt (sha256 mismatch): upload it again as a new version",
            status_code=500,
        )
    return content


def _archive_other_production(doc: AlgorithmDoc, by: str) -> None:
    for other in AlgorithmDoc.objects(name=doc.name, stage=Stage.production.value, version__ne=doc.version):
        other.stage = Stage.archived.value
        other.stage_history.append(StageChangeDoc(
            stage=Stage.archived.value, by=by, reason=f"version {doc.version} promoted to production",
        ))
        other.save()


def change_stage(name: str, version: int | str, update: StageUpdate) -> AlgorithmDoc:
    doc = get_algorithm(name, version)
    doc.stage = update.stage.value
    doc.stage_history.append(StageChangeDoc(stage=update.stage.value, by=update.by, reason=update.reason))
    doc.save()
    if update.stage is Stage.production and update.archive_previous:
        _archive_other_production(doc, update.by)
    return doc


def update_algorithm(name: str, version: int | str, patch: AlgorithmPatch) -> AlgorithmDoc:
    doc = get_algorithm(name, version)
    if patch.description is not None:
        doc.description = patch.description
    if patch.metrics is not None:
        doc.metrics = patch.metrics
    doc.save()
    return doc


def _users_of(name: str, version: int) -> list[str]:
    ref = {"name": name, "version": version}
    return [s.name for s in ServiceDoc.objects(__raw__={"$or": [{"algorithm": ref}, {"challenger": ref}]})]


def delete_algorithm(name: str, version: int | str) -> None:
    doc = get_algorithm(name, version)
    users = _users_of(doc.name, doc.version)
    if users:
        raise Conflict(
            f"algorithm {doc.name!r} version {doc.version} is used by service(s) "
            f"{', '.join(users)}: assign another model first"
        )
    for stored in (doc.model_file, doc.config_file):
        if stored is not None:
            stored.file.delete()
    doc.delete()


# -- services
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
    return _named(ServiceDoc, name, f"service {name!r} not found: create it with POST /queue_manager/services")


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


__all__ = ["now"]
