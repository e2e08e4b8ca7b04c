"""Alert episodes: consecutive alerting checks of one kind on one service, newest first."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from conveyor.api.errors import NotFound
from conveyor.schemas.monitoring import MAX_ROWS, Episode, EpisodePage, EpisodeStatus
from conveyor.schemas.safe import Int64
from monitoring_api.deps import EpisodesDep

router = APIRouter(prefix="/monitoring_api", tags=["checks and alerts"])
EpisodeKind = Literal["drift_detected", "performance_degraded"]


@router.get("/episodes", response_model=EpisodePage)
def list_episodes(
    episodes: EpisodesDep, service: str | None = None, kind: EpisodeKind | None = None,
    status: EpisodeStatus | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ROWS)] = 0,
) -> EpisodePage:
    total, items = episodes.page(service, kind, status, limit, offset)
    return EpisodePage(total=total, items=items)


@router.get("/episodes/{episode_id}", response_model=Episode)
def get_episode(episode_id: Int64, episodes: EpisodesDep) -> Episode:
    found = episodes.get(episode_id)
    if found is None:
        raise NotFound(f"no alert episode {episode_id}: GET /monitoring_api/episodes lists them")
    return found
