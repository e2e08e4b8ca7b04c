from fastapi import APIRouter, Response

from conveyor.api.auth import TokenDep
from conveyor.schemas.datasets import Dataset, DatasetSchema
from queue_manager import registry
from queue_manager.models import DatasetDoc

router = APIRouter(prefix="/queue_manager/datasets", tags=["datasets"])


@router.post("", response_model=Dataset, status_code=201)
def create_dataset(body: DatasetSchema, _: TokenDep) -> dict:
    return registry.dataset_to_api(registry.create_dataset(body))


@router.get("", response_model=list[Dataset])
def list_datasets() -> list[dict]:
    return [registry.dataset_to_api(d) for d in DatasetDoc.objects.order_by("name")]


@router.get("/{name}", response_model=Dataset)
def get_dataset(name: str) -> dict:
    return registry.dataset_to_api(registry.get_dataset(name))


@router.delete("/{name}", status_code=204)
def delete_dataset(name: str, _: TokenDep) -> Response:
    registry.delete_dataset(name)
    return Response(status_code=204)
