from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from fastapi.concurrency import run_in_threadpool

from conveyor.schemas.services import (
    ChallengerHealth,
    ChallengerPromoted,
    ChallengerPromotion,
    ChampionHealth,
    Service,
    ServiceChange,
    ServiceCreate,
    ServiceUpdate,
)
from queue_manager import challenger_health, challenger_promotion, service_history, services_store
from queue_manager.deps import EventsDep
from queue_manager.models import ServiceDoc

router = APIRouter(prefix="/queue_manager/services", tags=["services"])

# Who makes the change, for the service's history (a user name, or a component); "api" when not sent.
UserHeader = Annotated[str, Header(alias=service_history.USER_HEADER, max_length=200,
                                   description="who makes the change, recorded in the service's history")]


async def _announce(events: EventsDep, doc: ServiceDoc) -> None:
    event = services_store.assignment_event(doc)
    await events.publish(f"service.{doc.name}.assignment", event.model_dump(mode="json"))


@router.post("", response_model=Service, status_code=201)
async def create_service(body: ServiceCreate, events: EventsDep, by: UserHeader = "") -> dict:
    doc = await run_in_threadpool(services_store.create_service, body, by)
    await _announce(events, doc)
    return services_store.service_to_api(doc)


@router.get("", response_model=list[Service])
def list_services(dataset: str | None = None) -> list[dict]:
    return [services_store.service_to_api(d) for d in services_store.list_services(dataset=dataset)]


@router.get("/{name}", response_model=Service)
def get_service(name: str) -> dict:
    return services_store.service_to_api(services_store.get_service(name))


@router.get("/{name}/history", response_model=list[ServiceChange])
def service_history_of(
    name: str, limit: Annotated[int, Query(ge=1, le=service_history.HISTORY_CAP)] = service_history.HISTORY_CAP,
) -> list[dict]:
    """Newest first: creation, assignment changes, promotions and challenger health changes."""
    return service_history.newest_first(name, limit)


@router.patch("/{name}", response_model=Service)
async def update_service(name: str, body: ServiceUpdate, events: EventsDep, by: UserHeader = "") -> dict:
    doc, changed = await run_in_threadpool(services_store.update_service, name, body, by)
    if changed:
        await _announce(events, doc)
    return services_store.service_to_api(doc)


@router.post("/{name}/challenger/promote", response_model=ChallengerPromoted)
async def promote_challenger(
    name: str, body: ChallengerPromotion, events: EventsDep, by: UserHeader = ""
) -> ChallengerPromoted:
    """The challenger becomes the champion; the old champion is archived or kept as the challenger."""
    doc, promoted = await run_in_threadpool(challenger_promotion.promote, name, body, by)
    await _announce(events, doc)
    await events.publish(f"service.{name}.challenger_promoted", promoted.model_dump(mode="json"))
    return promoted


@router.put("/{name}/challenger/health", response_model=Service)
async def report_challenger_health(name: str, body: ChallengerHealth, events: EventsDep) -> dict:
    """A worker's report on the challenger; a change of state (ok <-> failing) is recorded and announced."""
    doc, event = await run_in_threadpool(challenger_health.report_health, name, body)
    if event is not None:
        await events.publish(f"service.{name}.challenger_health", event)
    return services_store.service_to_api(doc)


@router.put("/{name}/champion/health", response_model=Service)
async def report_champion_health(name: str, body: ChampionHealth, events: EventsDep) -> dict:
    """A worker's report on loading the champion (failing: it serves the previous model, or leaves the messages
    in the queue); a change of state (ok <-> failing) is recorded in the history and announced."""
    doc, event = await run_in_threadpool(challenger_health.report_champion_health, name, body)
    if event is not None:
        await events.publish(f"service.{name}.champion_health", event)
    return services_store.service_to_api(doc)


@router.delete("/{name}", status_code=204)
def delete_service(name: str) -> Response:
    services_store.delete_service(name)
    return Response(status_code=204)
