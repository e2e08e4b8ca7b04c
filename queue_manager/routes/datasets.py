from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from conveyor.api.errors import Unavailable
from conveyor.schemas.datasets import Dataset, DatasetSchema, dataset_problems
from queue_manager import datasets_store
from queue_manager.deps import EventsDep


class DatasetRoute(APIRoute):
    """A refused dataset answers a sentence per problem that names the field as the form shows it ("feature 2:
    names start with ..."), not pydantic's dotted locations; the 422's shape is the platform's."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = dataset_problems(exc.errors())
                detail = "; ".join(e["msg"] for e in errors) or "the dataset is not valid"
                return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

        return route


router = APIRouter(prefix="/queue_manager/datasets", tags=["datasets"], route_class=DatasetRoute)


@router.post("", response_model=Dataset, status_code=201)
def create_dataset(body: DatasetSchema) -> dict:
    return datasets_store.dataset_to_api(datasets_store.create_dataset(body))


# The reads answer their JSON themselves (FastAPI validates a returned Response no further), so that a dataset
# stored under rules since tightened is still listed and can be deleted, instead of failing the whole list.
@router.get("", response_model=list[Dataset])
def list_datasets() -> Response:
    return JSONResponse([datasets_store.dataset_as_json(d) for d in datasets_store.list_datasets()])


@router.get("/{name}", response_model=Dataset)
def get_dataset(name: str) -> Response:
    return JSONResponse(datasets_store.dataset_as_json(datasets_store.get_dataset(name)))


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
