"""Services: which model a worker applies to which queue."""

from __future__ import annotations

from datetime import datetime
from enum import Enum, StrEnum

from pydantic import BaseModel, Field

from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.names import ResourceName
from conveyor.schemas.retraining import TrainingData, TrainingSource


class ChallengerMode(Enum):
    """How a service's challenger sees traffic: a stable share of records, or every record beside the champion.

    A plain Enum, not a StrEnum: a member named `split` would shadow `str.split`. Compare members, or `.value`."""

    split = "split"
    shadow = "shadow"


class ModelRole(StrEnum):
    champion = "champion"
    challenger = "challenger"


class OldChampion(StrEnum):
    """What a promotion does with the champion it replaces."""

    archive = "archive"
    challenger = "challenger"


class ChallengerPolicy(BaseModel):
    """Whether monitoring promotes the challenger by itself once its verdict is significant (off by default)."""

    auto_promote: bool = Field(default=False, description="promote when the scheduled verdict is challenger_better")
    min_labelled_rows: int = Field(
        default=200, ge=20, le=1_000_000,
        description="labelled rows each model needs (shadow: rows labelled for both) before a verdict can be "
                    "significant")
    confidence: float = Field(default=0.95, ge=0.5, le=0.999,
                              description="confidence of the interval on the difference that decides the verdict")
    old_champion: OldChampion = Field(default=OldChampion.archive,
                                      description="an automatic promotion archives the old champion or keeps it "
                                                  "as the challenger")


class ChallengerHealth(BaseModel):
    """What a worker last reported about the challenger: a challenger that fails never stops the champion."""

    state: str = Field(pattern="^(ok|failing)$", description="ok | failing")
    error: str | None = Field(default=None, max_length=4000, description="why it fails, when it does")
    challenger: AlgorithmRef | None = Field(default=None, description="the challenger this report is about")
    worker: str = Field(default="", max_length=200)
    at: datetime | None = None


class ServiceChange(BaseModel):
    """One entry of a service's history: what changed, who or what decided, and why."""

    at: datetime
    kind: str = Field(description="created | assignment | challenger_promoted | challenger_health")
    by: str = Field(default="", description="the user, or the component (monitoring_api, retraining_api)")
    reason: str = ""
    algorithm: AlgorithmRef | None = None
    challenger: AlgorithmRef | None = None
    challenger_mode: ChallengerMode | None = None
    challenger_share: float = 0.0


class ChallengerPromotion(BaseModel):
    """POST /queue_manager/services/{name}/challenger/promote: the challenger becomes the champion."""

    old_champion: OldChampion = OldChampion.archive
    by: str = Field(default="", max_length=200, description="who asks: a user name, or a component")
    reason: str = Field(default="", max_length=2000)
    expected_challenger: AlgorithmRef | None = Field(
        default=None, description="refuse (409) unless this is still the challenger: a verdict about one model "
                                  "never promotes another")


class RetrainTrigger(StrEnum):
    drift_detected = "drift_detected"
    performance_degraded = "performance_degraded"


class RetrainingPolicy(BaseModel):
    """Whether monitoring alerts on this service start a retraining run of its model (off by default).

    A triggered run trains on the service's labelled production rows since its alert episode began (plus
    the training split unless `training.source` is production), once `min_labelled_rows` of them exist, and
    scores new and current model on the latest of them, which it never trains on."""

    on: list[RetrainTrigger] = Field(default_factory=list, description="alert kinds that start a run; empty: never")
    training: TrainingData = Field(
        default_factory=lambda: TrainingData(source=TrainingSource.training_and_production),
        description="source: training+production (the training split and the post-drift rows) or production "
                    "(post-drift rows only); start/end, if given, bound both")
    min_labelled_rows: int = Field(
        default=300, ge=20, le=1_000_000,
        description="a triggered run waits (waiting_for_labels) until the service has this many labelled "
                    "production rows since the episode's start")
    holdout_share: float = Field(
        default=0.2, gt=0.0, le=0.5,
        description="a triggered run holds out the latest round(min_labelled_rows x holdout_share) labelled "
                    "post-drift rows (at least 10): both models are scored on them, neither trained on them")
    include: list[str] | None = None
    auto_promote: bool = False
    margin: float = Field(default=0.0, ge=0.0, le=10.0)

    def holdout_rows(self) -> int:
        return max(10, round(self.min_labelled_rows * self.holdout_share))


class ServiceBase(BaseModel):
    dataset: str
    queue: ResourceName
    algorithm: AlgorithmRef | None = None
    challenger: AlgorithmRef | None = None
    challenger_mode: ChallengerMode | None = Field(
        default=None, description="split | shadow; required with a challenger (split when omitted), refused "
                                  "without one")
    challenger_share: float = Field(default=0.0, ge=0.0, le=1.0,
                                    description="split mode: the share of records the challenger predicts")
    challenger_policy: ChallengerPolicy = Field(default_factory=ChallengerPolicy)
    enabled: bool = True
    payload_key: str = Field(
        default="data", description="key of the positional message form {key: [v1, v2, ...]}"
    )
    description: str = ""
    retraining: RetrainingPolicy = Field(default_factory=RetrainingPolicy)


class ServiceCreate(ServiceBase):
    name: ResourceName


class ServiceUpdate(BaseModel):
    """Partial update: only the fields sent change."""

    dataset: str | None = None
    queue: ResourceName | None = None
    algorithm: AlgorithmRef | None = None
    challenger: AlgorithmRef | None = None
    challenger_mode: ChallengerMode | None = None
    challenger_share: float | None = Field(default=None, ge=0.0, le=1.0)
    challenger_policy: ChallengerPolicy | None = None
    enabled: bool | None = None
    payload_key: str | None = None
    description: str | None = None
    retraining: RetrainingPolicy | None = None


class Service(ServiceCreate):
    assignment_revision: int = Field(
        default=0, description="grows by one at every change of algorithm or challenger"
    )
    challenger_health: ChallengerHealth | None = None
    created_at: datetime
    updated_at: datetime


class AssignmentEvent(BaseModel):
    """Published on the events exchange whenever a service's assignment changes."""

    event: str = "assignment_changed"
    service: str
    queue: str
    algorithm: AlgorithmRef | None
    challenger: AlgorithmRef | None
    challenger_mode: ChallengerMode | None = None
    challenger_share: float
    enabled: bool
    assignment_revision: int
    at: datetime


class ChallengerPromoted(BaseModel):
    """The answer to a promotion, also published as `service.<name>.challenger_promoted`."""

    event: str = "challenger_promoted"
    service: str
    champion: AlgorithmRef = Field(description="the new champion (the former challenger)")
    previous_champion: AlgorithmRef | None
    challenger: AlgorithmRef | None = Field(description="the challenger after the promotion (the old champion when "
                                                        "kept, else none)")
    by: str
    reason: str
    assignment_revision: int
    at: datetime
