import logging
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from conveyor.api.errors import Unprocessable
from conveyor.jsonsafe import json_safe
from conveyor.lookups import dataset_schema
from conveyor.schemas.datasets import Task
from conveyor.schemas.retraining import EvaluateOn, Evaluation, PyCaretModel, PyCaretModels
from conveyor.training import evaluate
from retraining_api import data
from retraining_api.deps import MLDataDep, ModelsDep, QueueManagerDep, SettingsDep
from retraining_api.validation import pycaret_models

router = APIRouter(prefix="/retraining_api", tags=["models"])
log = logging.getLogger(__name__)


@router.get("/evaluate", response_model=Evaluation)
async def evaluate_model(
    model_name: str, evaluate_on: EvaluateOn, qm: QueueManagerDep, ml: MLDataDep, models: ModelsDep,
    settings: SettingsDep, version: Annotated[int | None, Query(ge=1, description="default: production")] = None,
    rows: Annotated[int | None, Query(ge=1, description="score a sample of this many rows")] = None,
) -> Evaluation:
    """Scores of a model version on a split's labelled rows (production: rows with ground truth)."""
    algorithm = await data.resolve_version(qm, model_name, version)
    schema = await dataset_schema(qm, algorithm.dataset)
    cap = min(rows or settings.evaluate_row_cap, settings.evaluate_row_cap)
    frame = await data.evaluation_frame(ml, schema, evaluate_on, cap)
    if frame.empty:
        what = "labelled production" if evaluate_on is EvaluateOn.production else evaluate_on.value
        raise Unprocessable(f"dataset {schema.name!r} has no {what} rows to evaluate on")
    model = await models.get(qm, algorithm)  # 422 for a file that is not a usable model (no .predict...)
    try:
        results = await run_in_threadpool(evaluate, model, frame, schema, None, algorithm.metrics.get("Model"))
    except Exception as exc:  # the model's own code failing on the rows: its problem, said, not a 500
        log.warning("evaluating %s v%s failed", algorithm.name, algorithm.version, exc_info=True)
        raise Unprocessable(f"model {algorithm.name} v{algorithm.version} cannot predict on {len(frame)} "
                            f"{evaluate_on.value} rows of dataset {schema.name!r}: "
                            f"{type(exc).__name__}: {exc}") from exc
    return Evaluation(model_name=algorithm.name, version=algorithm.version, evaluate_on=evaluate_on,
                      rows=len(frame), results=json_safe(results))


@router.get("/pycaret_models", response_model=PyCaretModels)
async def list_pycaret_models(task: Task) -> PyCaretModels:
    """The model ids a run's `include` list may name."""
    known = await pycaret_models(task)
    return PyCaretModels(task=task, models=[PyCaretModel(id=k, name=v) for k, v in known.items()])
