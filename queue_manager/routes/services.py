from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from conveyor.api.auth import TokenDep
from conveyor.schemas.services import Service, ServiceCreate, ServiceUpdate
from queue_manager import services_store
from queue_manager.deps import EventsDep
from queue_manager.models import ServiceDoc

router = APIRouter(prefix="/queue_manager/services", tags=["services"])


async def _announce(events: EventsDep, doc: ServiceDoc) -> None:
    event = services_store.assignment_event(doc)
    await events.publish(f"service.{doc.name}.assignment", event.model_dump(mode="json"))


@router.post("", response_model=Service, status_code=201)
async def create_service(body: ServiceCreate, events: EventsDep, _: TokenDep) -> dict:
    doc = await run_in_threadpool(services_store.create_service, body)
    await _announce(events, doc)
    return services_store.service_to_api(doc)


@router.get("", response_model=list[Service])
def list_services(dataset: str | None = None) -> list[dict]:
    return [services_store.service_to_api(d) for d in services_store.list_services(dataset=dataset)]


@router.get("/{name}", response_model=Service)
def get_service(name: str) -> dict:
    return services_store.service_to_api(services_store.get_service(name))


@router.patch("/{name}", response_model=Service)
async def update_service(name: str, body: ServiceUpdate, events: EventsDep, _: TokenDep) -> dict:
    doc, changed = await run_in_threadpool(services_store.update_service, name, body)
    if changed:
        await _announce(events, doc)
    return services_store.service_to_api(doc)


@router.delete("/{name}", status_code=204)
def delete_service(name: str, _: TokenDep) -> Response:
    services_store.delete_service(name)
    return Response(status_code=204)
