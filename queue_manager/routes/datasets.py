from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from conveyor.api.errors import Unavailable
from conveyor.schemas.datasets import Dataset, DatasetSchema
from queue_manager import datasets_store
from queue_manager.deps import EventsDep

router = APIRouter(prefix="/queue_manager/datasets", tags=["datasets"])


@router.post("", response_model=Dataset, status_code=201)
def create_dataset(body: DatasetSchema) -> dict:
    return datasets_store.dataset_to_api(datasets_store.create_dataset(body))


@router.get("", response_model=list[Dataset])
def list_datasets() -> list[dict]:
    return [datasets_store.dataset_to_api(d) for d in datasets_store.list_datasets()]


@router.get("/{name}", response_model=Dataset)
def get_dataset(name: str) -> dict:
    return datasets_store.dataset_to_api(datasets_store.get_dataset(name))


@router.delete("/{name}", status_code=204)
async def delete_dataset(name: str, events: EventsDep) -> Response:
    doc = await run_in_threadpool(datasets_store.deletable_dataset, name)
    # Announced before it is deleted: ml_data_api drops the dataset's tables on this event (from a
    # durable queue, so it may be down meanwhile). Unannounced, the tables would outlive the dataset.
    event = datasets_store.deleted_event(doc)
    if not await events.publish(f"dataset.{name}.deleted", event.model_dump(mode="json")):
        raise Unavailable(
            f"dataset {name!r} is not deleted: the broker is unreachable, so ml_data_api would not learn "
            "of it and would keep the dataset's tables; try again once /ready shows the broker ok"
        )
    await run_in_threadpool(datasets_store.delete_dataset, doc)
    return Response(status_code=204)
