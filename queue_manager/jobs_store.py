"""The jobs log on plain pymongo: the worker writes a whole batch in one call.

A job is unique per (service, record_id), so a redelivered message finds its job instead
of making a second one; finished and failed are terminal. Every write that makes jobs terminal
counts them, once, into the per-minute aggregates (queue_manager.job_minutes).
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
from conveyor.schemas.jobs import TERMINAL, JobCompleted, JobCreate, JobStatus, JobUpdate, JobUpdateItem
from conveyor.schemas.services import ModelRole
from queue_manager import job_minutes

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
TERMINAL_VALUES = frozenset(s.value for s in TERMINAL)
# What queue_manager.job_minutes reads of a job.
MINUTE_FIELDS = ("service", "status", "updated_at", "metadata", "algorithm_name", "algorithm_version")


def _ref(doc: dict[str, Any], existing: bool) -> dict[str, Any]:
    return {"id": str(doc["_id"]), **{k: doc.get(k) for k in REF_FIELDS}, "existing": existing}


def _insert_new(docs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Insert the jobs of records not known yet; answer (a JobRef per doc, in order; the docs inserted).

    A (service, record_id) already stored answers its stored job with `existing`: the first write of a record wins.
    One insert_many(ordered=False) whose duplicate-key errors name the records already there: on MongoDB as on
    secantusdb. (A bulk of UpdateOne(upsert=True, $setOnInsert) means the same and secantusdb answers it right,
    upserted_ids included, but it spends ~4x an insert per document there: 2.2 ms against 0.55 ms.)
    """
    # Within one batch a record may repeat: the first occurrence wins.
    first: dict[tuple[str, str], int] = {}
    for i, doc in enumerate(docs):
        first.setdefault((doc["service"], doc["record_id"]), i)
    unique = [docs[i] for i in sorted(first.values())]
    refused: set[int] = set()
    try:
        collection().insert_many(unique, ordered=False)
    except BulkWriteError as exc:
        for error in exc.details.get("writeErrors", []):
            if error.get("code") in TOO_LARGE_CODES:
                raise _too_large(f"the job of record {unique[error['index']]['record_id']!r}",
                                 len(encode(unique[error["index"]]))) from exc
            if error.get("code") != DUPLICATE_KEY:
                raise
            refused.add(error["index"])
    inserted = [doc for i, doc in enumerate(unique) if i not in refused]
    existing: dict[tuple[str, str], dict[str, Any]] = {}
    if refused:
        by_service: dict[str, list[str]] = {}
        for i in refused:
            by_service.setdefault(unique[i]["service"], []).append(unique[i]["record_id"])
        for service, record_ids in by_service.items():
            query = {"service": service, "record_id": {"$in": record_ids}}
            for doc in collection().find(query, {k: 1 for k in REF_FIELDS}):
                existing[(service, doc["record_id"])] = doc
    # The key refused may be the _id a writer chose, held by another record's job (or the job collided with
    # is gone meanwhile): no job of this record is stored, and saying so beats answering someone else's.
    lost = [unique[i] for i in sorted(refused) if (unique[i]["service"], unique[i]["record_id"]) not in existing]
    answer = []
    for doc in docs:
        key = (doc["service"], doc["record_id"])
        stored = existing.get(key) or docs[first[key]]
        was_there = key in existing or docs[first[key]] is not doc
        answer.append(_ref(stored, was_there))
    if lost:
        _count_terminal(inserted)  # what was written is counted before the refusal
        names = ", ".join(f"{d['record_id']!r} (id {d['_id']})" for d in lost[:5])
        raise Conflict(f"the job of record(s) {names}{' ...' if len(lost) > 5 else ''} was not written: its id is "
                       "the id of another record's job, or the job it collided with is gone; send it again with "
                       "the id conveyor.job_ids.job_id_for(service, record_id) gives")
    return answer, inserted


def _count_terminal(docs: list[dict[str, Any]]) -> None:
    """Count jobs that have just become terminal into the per-minute aggregates (nothing when none did)."""
    terminal = [d for d in docs if d["status"] in TERMINAL_VALUES]
    if terminal:
        job_minutes.record(terminal)


def create_many(jobs: list[JobCreate]) -> list[dict[str, Any]]:
    """Insert new jobs; a (service, record_id) already known answers its existing job."""
    at = datetime.now(UTC)
    answer, inserted = _insert_new([_new_doc(job, at) for job in jobs])
    _count_terminal(inserted)
    return answer


def _completed_doc(job: JobCompleted) -> dict[str, Any]:
    doc = job.model_dump(mode="python", exclude={"id", "history"})
    doc["_id"] = ObjectId(job.id)
    doc["status"] = job.status.value
    doc["history"] = [{"status": step.status.value, "at": step.at} for step in job.history]
    # The job's times are the history's: received by the worker, then the state it ended in.
    doc["created_at"] = job.history[0].at
    doc["updated_at"] = job.history[-1].at
    metadata = doc["metadata"]
    if metadata.get("start") is None:
        metadata["start"] = doc["created_at"]
    if metadata.get("end") is None:
        metadata["end"] = doc["updated_at"]
    if metadata.get("elapsed") is None:
        metadata["elapsed"] = max(0.0, (metadata["end"] - metadata["start"]).total_seconds())
    _check_size(doc, f"the job of record {job.record_id!r}")
    return doc


def complete_many(jobs: list[JobCompleted]) -> list[dict[str, Any]]:
    """Write jobs once, in their final state: the first write of a record wins, a second changes nothing."""
    answer, inserted = _insert_new([_completed_doc(job) for job in jobs])
    _count_terminal(inserted)
    return answer


def create_one(job: JobCreate) -> dict[str, Any]:
    try:
        doc = _new_doc(job, datetime.now(UTC))
        collection().insert_one(doc)
        _count_terminal([doc])
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


def _now_ms() -> datetime:
    """Now, to the millisecond: what MongoDB keeps of a time, so that a stored updated_at equals it."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _open(job_id: ObjectId) -> dict[str, Any]:
    # Terminal states stay terminal: a late or repeated update does not reopen a job.
    return {"_id": job_id, "status": {"$nin": [s.value for s in TERMINAL]}}


def update_many(updates: list[JobUpdateItem]) -> dict[str, Any]:
    at = _now_ms()
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
    closing = [i for i, u in zip(ids, updates, strict=True) if u.status in TERMINAL]
    if closing and result.modified_count:
        # The jobs this call moved from open to terminal: terminal ones stay so, so a job terminal with this
        # call's updated_at was closed by it (only a second call in the same millisecond on the same job could
        # pass for it).
        moved = collection().find({"_id": {"$in": closing}, "updated_at": at,
                                   "status": {"$in": sorted(TERMINAL_VALUES)}}, MINUTE_FIELDS)
        _count_terminal(list(moved))
    missing: list[str] = []
    if result.matched_count < len(ops):
        found = {d["_id"] for d in collection().find({"_id": {"$in": ids}}, {"_id": 1})}
        missing = [str(i) for i in ids if i not in found]
    return {"matched": result.matched_count, "modified": result.modified_count, "missing": missing}


def update_one(job_id: str, update: JobUpdate) -> dict[str, Any]:
    oid = object_id(job_id)
    try:
        result = collection().update_one(_open(oid), _update_op(update, datetime.now(UTC)))
    except (WriteError, DocumentTooLarge) as exc:
        if isinstance(exc, WriteError) and exc.code not in TOO_LARGE_CODES:
            raise
        raise PayloadTooLarge(f"job {job_id!r} would grow over MongoDB's 16 MB document limit with this "
                              "update, so it keeps its previous state: store large results elsewhere") from exc
    job = get(job_id)
    if result.matched_count and update.status in TERMINAL:  # it was open: this update closed it
        _count_terminal([{**job, "_id": oid}])
    return job


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
