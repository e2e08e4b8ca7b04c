"""Promotion: a version becomes production and every service on the previous version moves to it.

Workers learn of the reassignment from queue_manager's assignment event (or their
revision poll) and hot-swap the model; nothing here talks to them.
"""

from __future__ import annotations

import math
from typing import Any

from conveyor.api.errors import ConveyorError, Unavailable
from conveyor.clients import APIError, APIUnavailable, QueueManagerClient
from conveyor.schemas.algorithms import AlgorithmRef, Stage, StageUpdate
from conveyor.schemas.datasets import Task
from conveyor.schemas.retraining import Decision, Promotion
from conveyor.schemas.services import ServiceUpdate
from retraining_api.data import current_version, pick_version, versions_of

# The score auto_promote compares, and whether lower is better.
PRIMARY_METRIC = {Task.regression: ("RMSE", True), Task.classification: ("Accuracy", False)}


async def promote(qm: QueueManagerClient, name: str, version: int, reason: str,
                  run_id: int | None = None) -> Promotion:
    try:
        versions = await versions_of(qm, name)
        target = pick_version(versions, name, version)
        others = [a for a in versions if a.version != target.version]
        previous = current_version(others)
        await qm.set_stage(name, target.version, StageUpdate(stage=Stage.production, reason=reason,
                                                            by="retraining_api"))
        moved = []
        if previous is not None:
            for service in await qm.list_services():
                ref = service.algorithm
                if ref and ref.name == name and ref.version == previous.version:
                    await qm.update_service(service.name, ServiceUpdate(
                        algorithm=AlgorithmRef(name=name, version=target.version)))
                    moved.append(service.name)
    except APIUnavailable as exc:
        raise Unavailable(f"queue_manager is unreachable, promotion not finished (repeat it): {exc}") from exc
    except APIError as exc:
        # queue_manager's refusal of the stage or the service change is the caller's to read (404, 409, 422);
        # any other (a token it refuses) is this service's configuration.
        status = exc.status_code if exc.status_code in (404, 409, 422) else 503
        raise ConveyorError(f"queue_manager refused the promotion: {exc.detail}", status) from exc
    return Promotion(run_id=run_id, algorithm=name, version=target.version,
                     previous_version=previous.version if previous else None, services=moved)


def decide(auto_promote: bool, margin: float, task: Task, new: dict[str, Any],
           previous: dict[str, Any] | None, run_id: int) -> Decision:
    """Whether a finished run promotes its model by itself, with the reason in words."""
    if not auto_promote:
        return Decision(auto_promote=False, promoted=False,
                        reason=f"auto_promote is off: the new version waits in staging; promote it with "
                               f"POST /retraining_api/runs/{run_id}/promote")
    if previous is None:
        return Decision(auto_promote=True, promoted=True, margin=margin,
                        reason="there is no previous version to beat: the first version is promoted")
    metric, lower_is_better = PRIMARY_METRIC[task]
    new_score, old_score = _finite(new.get(metric)), _finite(previous.get(metric))
    if new_score is None or old_score is None:
        return Decision(auto_promote=True, promoted=False, metric=metric, new=None, previous=None, margin=margin,
                        reason=f"{metric} is undefined for one of the models: not promoted")
    gain = (old_score - new_score) if lower_is_better else (new_score - old_score)
    needed = margin * abs(old_score)
    relative = gain / abs(old_score) if old_score else math.inf if gain > 0 else 0.0
    promoted = gain > needed
    verdict = "promoted" if promoted else "not promoted: the previous version stays in production"
    direction = "better" if gain > 0 else "not better"
    return Decision(
        auto_promote=True, promoted=promoted, metric=metric, new=new_score, previous=old_score, margin=margin,
        reason=f"{metric} on the holdout: new {new_score:.6g}, previous {old_score:.6g} ({direction}, "
               f"{relative:+.2%} relative); required margin {margin:.2%}: {verdict}",
    )


def _finite(value: Any) -> float | None:
    """The score as a number, or None where it is missing, not a number or infinite."""
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None
