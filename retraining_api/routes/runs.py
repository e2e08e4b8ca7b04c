from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.concurrency import run_in_threadpool

from conveyor.api.errors import Conflict, NotFound
from conveyor.schemas.retraining import MAX_VERSION, Promotion, Run, RunAccepted, RunCreate, RunStatus, Waiting
from conveyor.schemas.safe import Int64, PgDatetime
from retraining_api.deps import MLDataDep, QueueManagerDep, StoreDep
from retraining_api.promotion import promote
from retraining_api.store import to_api
from retraining_api.validation import validate_run

router = APIRouter(prefix="/retraining_api", tags=["retraining runs"])


def run_url(run_id: int) -> str:
    return f"/retraining_api/runs/{run_id}"


@router.post("/runs", status_code=202, response_model=RunAccepted)
async def start_run(body: RunCreate, store: StoreDep, qm: QueueManagerDep, ml: MLDataDep,
                    response: Response) -> RunAccepted:
    """Queue a retraining run (or, with wait_for_labels, let it wait for labels first); the executor takes it.
    Follow it at the answered url."""
    await validate_run(body, qm, ml)
    waiting = None
    if body.wait_for_labels is not None:  # the executor counts the labels and queues it
        waiting = Waiting(have=0, need=body.wait_for_labels, since=body.labels_since()).model_dump(mode="json")
    row = await run_in_threadpool(store.create_run, body.dataset, body.algorithm, body.model_dump(mode="json"),
                                  None, waiting)
    response.headers["Location"] = run_url(row["id"])
    return RunAccepted(id=row["id"], status=RunStatus(row["status"]), url=run_url(row["id"]))


@router.get("/runs", response_model=list[Run])
def list_runs(
    store: StoreDep, dataset: str | None = None, algorithm: str | None = None, status: RunStatus | None = None,
    since: PgDatetime | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> list[dict]:
    """Newest first."""
    rows = store.list_runs(dataset, algorithm, status.value if status else None, since, limit, offset)
    return [to_api(r) for r in rows]


def _run(store: StoreDep, run_id: int) -> dict:
    row = store.get_run(run_id)
    if row is None:
        raise NotFound(f"retraining run {run_id} not found")
    return row


@router.get("/runs/{run_id}", response_model=Run)
def get_run(store: StoreDep, run_id: Int64) -> dict:
    return to_api(_run(store, run_id))


@router.post("/runs/{run_id}/cancel", response_model=Run)
def cancel_run(run_id: Int64, store: StoreDep) -> dict:
    """A run that has not started (queued or waiting for labels) ends as cancelled."""
    row = store.cancel_run(run_id)
    if row is None:
        status = _run(store, run_id)["status"]
        raise Conflict(f"run {run_id} is {status}: only a queued run or one waiting for labels can be cancelled "
                       "(a running run cannot be interrupted)")
    return to_api(row)


@router.post("/runs/{run_id}/promote", response_model=Promotion)
async def promote_run(run_id: Int64, store: StoreDep, qm: QueueManagerDep) -> Promotion:
    """Put the run's new version in production and move the services of the previous version to it."""
    row = await run_in_threadpool(_run, store, run_id)
    if row["status"] != RunStatus.finished.value or row["new_version"] is None:
        detail = f": {row['error']}" if row["error"] else ""
        raise Conflict(f"run {run_id} is {row['status']}{detail}; only a finished run has a model to promote")
    promotion = await promote(qm, row["algorithm"], row["new_version"], reason=f"promoted from run {run_id}",
                              run_id=run_id)
    await run_in_threadpool(store.mark_promoted, run_id)
    return promotion


@router.post("/models/{model_name}/{version}/promote", response_model=Promotion, tags=["models"])
async def promote_version(model_name: str, version: Annotated[int, Path(ge=1, le=MAX_VERSION)],
                          qm: QueueManagerDep) -> Promotion:
    """Any version: production, with the services of the name's previous version moved to it."""
    return await promote(qm, model_name, version, reason="promoted through retraining_api")
