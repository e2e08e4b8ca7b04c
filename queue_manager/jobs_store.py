"""The jobs log on plain pymongo: the worker writes a whole batch in one call.

A job is unique per (service, record_id), so a redelivered message finds its job instead
of making a second one; finished and failed are terminal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId, encode
from bson.errors import InvalidId
from mongoengine.connection import get_db
from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DocumentTooLarge, DuplicateKeyError, WriteError

from conveyor.api.errors import Conflict, NotFound, PayloadTooLarge
from conveyor.schemas.jobs import TERMINAL, JobCreate, JobStatus, JobUpdate, JobUpdateItem
from conveyor.schemas.services import ModelRole

DUPLICATE_KEY = 11000
# MongoDB keeps a document of at most 16 MiB. A job is created below that with room to spare for its result
# and history; what does not fit is refused with a 413 instead of failing inside the write.
MONGO_DOCUMENT_BYTES = 16 * 1024 * 1024
MAX_JOB_BYTES = MONGO_DOCUMENT_BYTES - 512 * 1024
# The server's codes for a document over its limit: on insert (BSONObjectTooLarge) and after an update.
TOO_LARGE_CODES = frozenset({10334, 17419})


def collection() -> Collection:
    return get_db()["jobs"]


def ensure_indexes() -> None:
    jobs = collection()
    jobs.create_index([("service", ASCENDING), ("record_id", ASCENDING)], unique=True)
    jobs.create_index([("service", ASCENDING), ("created_at", DESCENDING)])
    jobs.create_index([("created_at", DESCENDING)])
    # No index on status alone: every status change would rewrite it, and queries by
    # status always come with a time window or a service.


def to_api(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k != "_id"}
    out["id"] = str(doc["_id"])
    return out


def object_id(job_id: str) -> ObjectId:
    try:
        return ObjectId(job_id)
    except (InvalidId, TypeError) as exc:
        raise NotFound(f"job {job_id!r} not found (not a job id)") from exc


def _too_large(what: str, size: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{what} would take {size / 2**20:.1f} MB in MongoDB, more than the {MAX_JOB_BYTES / 2**20:.1f} MB a job "
        "may hold with its payload and result: store large payloads elsewhere and send a reference")


def _check_size(doc: dict[str, Any], what: str) -> None:
    size = len(encode(doc))
    if size > MAX_JOB_BYTES:
        raise _too_large(what, size)


def _new_doc(job: JobCreate, at: datetime) -> dict[str, Any]:
    doc = job.model_dump(mode="python")
    doc["_id"] = ObjectId()
    doc["status"] = job.status.value
    doc["history"] = [{"status": job.status.value, "at": at}]
    doc["created_at"] = at
    doc["updated_at"] = at
    if doc["metadata"].get("start") is None:
        doc["metadata"]["start"] = at
    _check_size(doc, f"the job of record {job.record_id!r}")
    return doc


REF_FIELDS = ("record_id", "service", "status", "error")


def _ref(doc: dict[str, Any], existing: bool) -> dict[str, Any]:
    return {"id": str(doc["_id"]), **{k: doc.get(k) for k in REF_FIELDS}, "existing": existing}


def create_many(jobs: list[JobCreate]) -> list[dict[str, Any]]:
    """Insert new jobs; a (service, record_id) already known answers its existing job."""
    at = datetime.now(UTC)
    docs = [_new_doc(job, at) for job in jobs]
    # Within one batch a record may repeat: the first occurrence wins.
    first: dict[tuple[str, str], int] = {}
    for i, doc in enumerate(docs):
        first.setdefault((doc["service"], doc["record_id"]), i)
    unique = [docs[i] for i in sorted(first.values())]
    duplicates: set[tuple[str, str]] = set()
    try:
        collection().insert_many(unique, ordered=False)
    except BulkWriteError as exc:
        for error in exc.details.get("writeErrors", []):
            if error.get("code") in TOO_LARGE_CODES:
                raise _too_large(f"the job of record {unique[error['index']]['record_id']!r}",
                                 len(encode(unique[error["index"]]))) from exc
            if error.get("code") != DUPLICATE_KEY:
                raise
            doc = unique[error["index"]]
            duplicates.add((doc["service"], doc["record_id"]))
    existing: dict[tuple[str, str], dict[str, Any]] = {}
    if duplicates:
        by_service: dict[str, list[str]] = {}
        for service, record_id in duplicates:
            by_service.setdefault(service, []).append(record_id)
        for service, record_ids in by_service.items():
            query = {"service": service, "record_id": {"$in": record_ids}}
            for doc in collection().find(query, {k: 1 for k in REF_FIELDS}):
                existing[(service, doc["record_id"])] = doc
    answer = []
    for doc in docs:
        key = (doc["service"], doc["record_id"])
        stored = existing.get(key) or docs[first[key]]
        was_there = key in existing or docs[first[key]] is not doc
        answer.append(_ref(stored, was_there))
    return answer


def create_one(job: JobCreate) -> dict[str, Any]:
    try:
        doc = _new_doc(job, datetime.now(UTC))
        collection().insert_one(doc)
        return {**to_api(doc), "existing": False}
    except DuplicateKeyError as exc:
        existing = collection().find_one({"service": job.service, "record_id": job.record_id})
        if existing is None:  # the job it collided with is gone meanwhile
            raise Conflict(f"job of record {job.record_id!r} collided with one that is gone: send it again") from exc
        return {**to_api(existing), "existing": True}


def _update_op(update: JobUpdate, at: datetime) -> dict[str, Any]:
    fields: dict[str, Any] = {"status": update.status.value, "updated_at": at}
    if update.result is not None:
        fields["result"] = update.result
    if update.error is not None:
        fields["error"] = update.error
    if update.metadata is not None:
        for key, value in update.metadata.model_dump(mode="python", exclude_none=True).items():
            if key == "extra" and not value:
                continue
            fields[f"metadata.{key}"] = value
    if update.status in TERMINAL and "metadata.end" not in fields:
        fields["metadata.end"] = at
    op = {"$set": fields, "$push": {"history": {"status": update.status.value, "at": at}}}
    _check_size(op, "the job's update")
    return op


def _open(job_id: ObjectId) -> dict[str, Any]:
    # Terminal states stay terminal: a late or repeated update does not reopen a job.
    return {"_id": job_id, "status": {"$nin": [s.value for s in TERMINAL]}}


def update_many(updates: list[JobUpdateItem]) -> dict[str, Any]:
    at = datetime.now(UTC)
    ids = [object_id(u.id) for u in updates]
    ops = [UpdateOne(_open(i), _update_op(u, at)) for i, u in zip(ids, updates, strict=True)]
    try:
        result = collection().bulk_write(ops, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if not errors or any(e.get("code") not in TOO_LARGE_CODES for e in errors):
            raise
        refused = ", ".join(str(ids[e["index"]]) for e in errors)
        raise PayloadTooLarge(
            f"job(s) {refused} would grow over MongoDB's 16 MB document limit with this update, so they keep "
            f"their previous state (the other updates are applied): store large results elsewhere") from exc
    missing: list[str] = []
    if result.matched_count < len(ops):
        found = {d["_id"] for d in collection().find({"_id": {"$in": ids}}, {"_id": 1})}
        missing = [str(i) for i in ids if i not in found]
    return {"matched": result.matched_count, "modified": result.modified_count, "missing": missing}


def update_one(job_id: str, update: JobUpdate) -> dict[str, Any]:
    oid = object_id(job_id)
    try:
        collection().update_one(_open(oid), _update_op(update, datetime.now(UTC)))
    except (WriteError, DocumentTooLarge) as exc:
        if isinstance(exc, WriteError) and exc.code not in TOO_LARGE_CODES:
            raise
        raise PayloadTooLarge(f"job {job_id!r} would grow over MongoDB's 16 MB document limit with this "
                              "update, so it keeps its previous state: store large results elsewhere") from exc
    return get(job_id)


def get(job_id: str) -> dict[str, Any]:
    doc = collection().find_one({"_id": object_id(job_id)})
    if doc is None:
        raise NotFound(f"job {job_id!r} not found")
    return to_api(doc)


def query(
    *, service: str | None, status: JobStatus | None, record_id: str | None,
    since: datetime | None, until: datetime | None, limit: int, offset: int,
    algorithm_role: ModelRole | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    flt: dict[str, Any] = {}
    if service:
        flt["service"] = service
    if algorithm_role is ModelRole.challenger:
        flt["algorithm_role"] = ModelRole.challenger.value
    elif algorithm_role is ModelRole.champion:
        # Jobs from before challengers existed have no role: the champion predicted them.
        flt["algorithm_role"] = {"$ne": ModelRole.challenger.value}
    if status:
        flt["status"] = status.value
    if record_id:
        flt["record_id"] = record_id
    if since or until:
        flt["created_at"] = {
            **({"$gte": since} if since else {}), **({"$lt": until} if until else {})
        }
    jobs = collection()
    total = jobs.count_documents(flt)
    cursor = jobs.find(flt).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
    return total, [to_api(d) for d in cursor.skip(offset).limit(limit)]
