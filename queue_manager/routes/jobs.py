from typing import Annotated

from fastapi import APIRouter, Query

from conveyor.schemas.jobs import (
    Job,
    JobCreate,
    JobCreated,
    JobPage,
    JobsBulkCreate,
    JobsBulkCreated,
    JobsBulkUpdate,
    JobsBulkUpdated,
    JobsCompleted,
    JobsCompletedWritten,
    JobStats,
    JobStatus,
    JobUpdate,
)
from conveyor.schemas.safe import PgDatetime
from conveyor.schemas.services import ModelRole
from queue_manager import job_stats as statistics
from queue_manager import jobs_store

router = APIRouter(prefix="/queue_manager/jobs", tags=["jobs"])

# MongoDB's skip takes an int64; paging further than a billion jobs back is a query for a time window instead.
MAX_OFFSET = 10**9


@router.post("", response_model=JobCreated, status_code=201)
def create_job(body: JobCreate) -> dict:
    return jobs_store.create_one(body)


@router.post("/bulk", response_model=JobsBulkCreated, status_code=201)
def create_jobs(body: JobsBulkCreate) -> dict:
    return {"jobs": jobs_store.create_many(body.jobs)}


@router.post("/completed", response_model=JobsCompletedWritten)
def complete_jobs(body: JobsCompleted) -> dict:
    """Jobs written once, in their final state (finished or failed) with their whole history: the worker's one
    write per record. The first write of a (service, record_id) wins; writing it again changes nothing and
    answers `existing: true` with the stored job's id and status."""
    return {"jobs": jobs_store.complete_many(body.jobs)}


@router.patch("/bulk", response_model=JobsBulkUpdated)
def update_jobs(body: JobsBulkUpdate) -> dict:
    return jobs_store.update_many(body.updates)


@router.get("/stats", response_model=JobStats)
def job_stats(
    service: str | None = None,
    window_minutes: Annotated[int, Query(ge=1, le=60 * 24 * 31)] = 60,
) -> dict:
    return statistics.stats(service, window_minutes)


@router.get("", response_model=JobPage)
def list_jobs(
    service: str | None = None,
    status: JobStatus | None = None,
    record_id: str | None = None,
    algorithm_role: Annotated[ModelRole | None, Query(description="champion | challenger: the model that "
                                                                    "predicted the record")] = None,
    since: PgDatetime | None = None,
    until: PgDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="jobs to skip, newest first; "
                                 "narrow the window (since, until) to reach further back")] = 0,
) -> dict:
    total, jobs = jobs_store.query(
        service=service, status=status, record_id=record_id, since=since, until=until,
        limit=limit, offset=offset, algorithm_role=algorithm_role,
    )
    return {"total": total, "limit": limit, "offset": offset, "jobs": jobs}


@router.get("/{job_id}", response_model=Job)
def get_job(job_id: str) -> dict:
    return jobs_store.get(job_id)


@router.patch("/{job_id}", response_model=Job)
def update_job(job_id: str, body: JobUpdate) -> dict:
    return jobs_store.update_one(job_id, body)
