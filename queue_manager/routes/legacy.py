"""The reference system's URLs, kept working."""

from fastapi import APIRouter

from conveyor.schemas.algorithms import Algorithm
from conveyor.schemas.services import Service
from queue_manager import algorithms_store, services_store

router = APIRouter(prefix="/queue_manager", tags=["reference URLs"])


@router.get("/get_services", response_model=list[Service])
def get_services(service_name: str | None = None) -> list[dict]:
    return [services_store.service_to_api(d) for d in services_store.list_services(name=service_name)]


@router.get("/get_algorithms", response_model=list[Algorithm])
def get_algorithms() -> list[dict]:
    return [algorithms_store.algorithm_to_api(d) for d in algorithms_store.list_algorithms()]
