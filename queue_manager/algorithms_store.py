"""Algorithms: versioned model files in GridFS, each with a stage."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from pydantic import ValidationError
from pymongo import ReturnDocument

from conveyor.api.errors import Conflict, NotFound, Unavailable, Unprocessable
from conveyor.model_check import check_model
from conveyor.model_files import stored_filename, stored_format
from conveyor.schemas.algorithms import AlgorithmPatch, HoldoutWindow, Stage, StageUpdate
from conveyor.schemas.datasets import DatasetSchema
from conveyor.settings import ImproperlyConfigured
from queue_manager.datasets_store import get_dataset
from queue_manager.models import AlgorithmDoc, CounterDoc, ServiceDoc, StageChangeDoc, StoredFileDoc

log = logging.getLogger(__name__)


def dataset_schema(name: str) -> DatasetSchema:
    try:
        return DatasetSchema.model_validate(get_dataset(name).schema)
    except ValidationError as exc:  # a dataset stored before a rule it breaks (a name with a line break...)
        raise Unprocessable(f"dataset {name!r} has a schema the platform no longer accepts "
                            f"({exc.errors()[0]['msg']}): create it again under a valid name") from exc


def checked_model(schema: DatasetSchema, content: bytes, filename: str) -> str:
    """The name to store an upload under, once a separate process has loaded it and made it predict on rows
    shaped like the dataset's (conveyor.model_check: where an uploaded file's code runs); else 422 saying why."""
    try:
        verdict = check_model(content, filename, schema)
    except ImproperlyConfigured as exc:  # MODEL_* settings read per upload: a bad one is the operator's to fix
        raise Unavailable(f"queue_manager cannot check models: {exc}") from exc
    log.info("model check of %r for dataset %s: %s in %.1f s (peak %.0f MB resident, %.0f MB address space)%s",
             filename, schema.name, "accepted" if verdict.accepted else "refused", verdict.seconds,
             verdict.peak_rss_mb, verdict.peak_vm_mb, "" if verdict.accepted else f": {verdict.reason}")
    if not verdict.accepted:
        raise Unprocessable(f"model refused: {verdict.reason}")
    return stored_filename(filename, verdict.format)


def algorithm_to_api(doc: AlgorithmDoc) -> dict[str, Any]:
    def stored(f: StoredFileDoc | None) -> dict[str, Any] | None:
        return None if f is None else {"filename": f.filename, "size": f.size, "sha256": f.sha256}

    return {
        "name": doc.name, "version": doc.version, "dataset": doc.dataset,
        "framework": doc.framework, "description": doc.description, "metrics": doc.metrics,
        "holdout": doc.holdout or None, "format": stored_format(doc.model_file.filename), "stage": doc.stage,
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
    stage: Stage, holdout: HoldoutWindow | None = None, by: str = "",
) -> AlgorithmDoc:
    get_dataset(dataset)
    version = _next_version(name)
    doc = AlgorithmDoc(
        name=name, version=version, dataset=dataset, framework=framework,
        description=description, metrics=metrics, stage=stage.value, created_by=by,
        holdout=holdout.model_dump(mode="json") if holdout is not None else None,
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
    # mongoengine answers "" (text) for a file whose chunks do not add up, rather than raising.
    if not isinstance(content, bytes) or hashlib.sha256(content).hexdigest() != stored.sha256:
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
    if patch.holdout is not None:
        doc.holdout = patch.holdout.model_dump(mode="json")
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
