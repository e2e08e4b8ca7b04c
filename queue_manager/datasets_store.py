"""Datasets: the schemas queue_manager owns, and the rules for deleting one."""

from __future__ import annotations

from typing import Any

from mongoengine.errors import NotUniqueError

from conveyor.api.errors import Conflict
from conveyor.schemas.datasets import DatasetDeleted, DatasetSchema
from queue_manager.models import AlgorithmDoc, DatasetDoc, ServiceDoc, find_named, now


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
