"""Services: which model a worker applies to which queue."""

from __future__ import annotations

from datetime import datetime
from enum import Enum, StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import to_jsonable_python

from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.names import ResourceName
from conveyor.schemas.retraining import TrainingData, TrainingSource
from conveyor.schemas.safe import PgDatetime


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


class ModelHealthReport(BaseModel):
    """What a worker last reported about one of a service's models (ok | failing), and why."""

    state: str = Field(pattern="^(ok|failing)$", description="ok | failing")
    error: str | None = Field(default=None, max_length=4000, description="why it fails, when it does")
    worker: str = Field(default="", max_length=200, description="the worker (WORKER_ID) that reported it")
    at: PgDatetime | None = Field(default=None, description="when the worker saw it (UTC); the time of the "
                                                            "report when not sent")


class ChallengerHealth(ModelHealthReport):
    """What a worker last reported about the challenger: a challenger that fails never stops the champion."""

    challenger: AlgorithmRef | None = Field(default=None, description="the challenger this report is about")


class ChampionHealth(ModelHealthReport):
    """What a worker last reported about loading the champion: a champion that does not load never stops the worker.

    It keeps predicting with the model it had (`serving`), or, when it had none, leaves the messages in the queue
    untouched (no job, no dead letter) and tries again on the next assignment or after WORKER_MODEL_RETRY_SECONDS."""

    champion: AlgorithmRef | None = Field(default=None, description="the champion this report is about (the one "
                                                                    "assigned); none: the current one")
    serving: AlgorithmRef | None = Field(
        default=None, description="what the worker predicts with meanwhile: the previous champion, or none (the "
                                  "messages wait in the queue)")


class ServiceChange(BaseModel):
    """One entry of a service's history: what changed, who or what decided, and why."""

    at: datetime
    kind: str = Field(description="created | assignment | challenger_promoted | challenger_health | "
                                  "champion_health")
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
    description: str = Field(default="", max_length=10_000)
    retraining: RetrainingPolicy = Field(default_factory=RetrainingPolicy)


class ServiceCreate(ServiceBase):
    name: ResourceName


def _no_default_shown(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # "not sent" is no value a client could send: null is refused


# Fields of an update that a null cannot mean anything for: a service always has a dataset, a queue and a state.
NOT_NULL = {
    "dataset": "a service always has a dataset: send a dataset name, or leave the field out",
    "queue": "a service always has a queue: send a queue name, or leave the field out",
    "enabled": "send true or false, or leave the field out",
}


class ServiceUpdate(BaseModel):
    """Partial update: only the fields sent change.

    null puts a field back to what a new service gets: algorithm and challenger none (challenger=null returns the
    service to champion only), challenger_mode the default (split with a challenger), challenger_share 0,
    challenger_policy and retraining their defaults (retraining off), payload_key "data", description "".
    dataset, queue and enabled have no such meaning: null is refused (422)."""

    dataset: str | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default_shown)
    queue: ResourceName | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default_shown)
    algorithm: AlgorithmRef | None = Field(default=None, description="null: no champion")
    challenger: AlgorithmRef | None = Field(default=None, description="null: no challenger (champion only)")
    challenger_mode: ChallengerMode | None = Field(default=None,
                                                   description="null: the default (split with a challenger)")
    challenger_share: float | None = Field(default=None, ge=0.0, le=1.0, description="null: 0")
    challenger_policy: ChallengerPolicy | None = Field(default=None, description="null: the defaults")
    enabled: bool | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default_shown)
    payload_key: str | None = Field(default=None, description='null: "data"')
    description: str | None = Field(default=None, max_length=10_000, description='null: ""')
    retraining: RetrainingPolicy | None = Field(default=None, description="null: the defaults (off)")

    @field_validator(*NOT_NULL, mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: Any) -> Any:
        if value is None:
            raise ValueError(f"{info.field_name} cannot be null: {NOT_NULL[info.field_name]}")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields sent, as JSON, a null read as the value a new service gets."""
        sent = self.model_dump(mode="json", exclude_unset=True)
        for field, value in sent.items():
            if value is None:
                default = ServiceBase.model_fields[field].get_default(call_default_factory=True)
                sent[field] = to_jsonable_python(default)
        return sent


class Service(ServiceCreate):
    assignment_revision: int = Field(
        default=0, description="grows by one at every change of algorithm or challenger"
    )
    challenger_health: ChallengerHealth | None = None
    champion_health: ChampionHealth | None = Field(
        default=None, description="the champion's health as the workers report it: failing while the assigned "
                                  "champion does not load (see ChampionHealth); none until a worker reports")
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
