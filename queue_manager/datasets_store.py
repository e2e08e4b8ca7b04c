"""Datasets: the schemas queue_manager owns, and the rules for deleting one."""

from __future__ import annotations

import logging
from typing import Any

from fastapi.encoders import jsonable_encoder
from mongoengine.errors import NotUniqueError
from pydantic import ValidationError

from conveyor.api.errors import Conflict
from conveyor.schemas.datasets import Dataset, DatasetDeleted, DatasetSchema
from queue_manager.models import AlgorithmDoc, DatasetDoc, ServiceDoc, find_named, now

log = logging.getLogger(__name__)


def dataset_to_api(doc: DatasetDoc) -> dict[str, Any]:
    return {**doc.schema, "created_at": doc.created_at, "created_by": doc.created_by}


def dataset_as_json(doc: DatasetDoc) -> dict[str, Any]:
    """The dataset as JSON; one stored before its rules were tightened (a name ending in a line break, before
    names were matched whole) is answered as stored, not as a 500 that would also hide every other dataset."""
    stored = dataset_to_api(doc)
    try:
        return Dataset.model_validate(stored).model_dump(mode="json")
    except ValidationError as exc:
        log.warning("dataset %r no longer fits the rules for a new dataset (%s): answered as stored; delete it "
                    "with DELETE /queue_manager/datasets/<its name, percent-encoded>", doc.name,
                    "; ".join(e["msg"] for e in exc.errors()))
        answer: dict[str, Any] = jsonable_encoder(stored)
        return answer


def create_dataset(schema: DatasetSchema, by: str = "") -> DatasetDoc:
    doc = DatasetDoc(name=schema.name, schema=schema.model_dump(mode="json"), created_by=by)
    try:
        return doc.save(force_insert=True)
    except NotUniqueError as exc:
        raise Conflict(f"dataset {schema.name!r} already exists") from exc


def list_datasets() -> list[DatasetDoc]:
    return list(DatasetDoc.objects.order_by("name"))


def get_dataset(name: str) -> DatasetDoc:
    return find_named(DatasetDoc, name, f"dataset {name!r} not found: create it with POST /queue_manager/datasets")


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
