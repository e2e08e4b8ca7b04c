"""The reference system's URLs, kept working."""

from fastapi import APIRouter

from conveyor.schemas.algorithms import Algorithm
from conveyor.schemas.services import Service
from queue_manager import registry
from queue_manager.models import AlgorithmDoc, ServiceDoc

router = APIRouter(prefix="/queue_manager", tags=["reference URLs"])


@router.get("/get_services", response_model=list[Service])
def get_services(service_name: str | None = None) -> list[dict]:
    query = ServiceDoc.objects(name=service_name) if service_name else ServiceDoc.objects
    return [registry.service_to_api(d) for d in query.order_by("name")]


@router.get("/get_algorithms", response_model=list[Algorithm])
def get_algorithms() -> list[dict]:
    return [registry.algorithm_to_api(d) for d in AlgorithmDoc.objects.order_by("name", "version")]
