"""Champion against challenger on the same service: per-model scores, the difference, a verdict."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ChallengerMode, ModelRole


class ChallengerVerdict(StrEnum):
    challenger_better = "challenger_better"
    challenger_worse = "challenger_worse"
    not_significant = "not_significant"


class ModelScore(BaseModel):
    """One model's rows in the window: all it predicted, those with a label, its metrics on them."""

    role: ModelRole
    model: AlgorithmRef
    rows: int = Field(description="rows this model predicted in the window (shadow: every row, for both)")
    labelled_rows: int = Field(description="of them, rows with a label (shadow: labelled rows both predicted)")
    metrics: dict[str, float | None] = Field(
        description="regression: MAE, RMSE; classification: accuracy, F1 (weighted); none without labels")


class Difference(BaseModel):
    """Challenger minus champion on the deciding metric, signed so that positive means the challenger is better."""

    metric: str = Field(description="MAE (regression) or accuracy (classification)")
    value: float | None = Field(description="the champion's error minus the challenger's (regression), or the "
                                            "challenger's accuracy minus the champion's (classification)")
    low: float | None
    high: float | None
    confidence: float
    paired: bool = Field(description="shadow: the same records scored by both models; split: two samples")
    method: str = Field(description="how the interval was computed, in words")


class ChallengerComparison(BaseModel):
    """GET /monitoring_api/challenger?service=NAME, and one point of the scheduled series."""

    service: str
    dataset: str
    mode: ChallengerMode
    champion: ModelScore
    challenger: ModelScore
    difference: Difference
    verdict: ChallengerVerdict
    rows_needed: int | None = Field(
        description="not_significant: an estimate of the labelled rows still needed per model for the interval "
                    "to exclude zero at the current difference (none when it cannot be estimated)")
    reason: str = Field(description="how the verdict was reached, in a sentence")
    window_start: datetime | None = None
    window_end: datetime | None = None
    at: datetime
    promoted: bool = Field(default=False, description="the scheduled check promoted the challenger on this verdict")


class ChallengerPoint(ChallengerComparison):
    id: int


class ChallengerSeries(BaseModel):
    """GET /monitoring_api/challenger/history?service=NAME: the scheduled comparisons, oldest first."""

    service: str
    points: list[ChallengerPoint]
