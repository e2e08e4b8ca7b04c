from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response

from conveyor.api.errors import Unprocessable
from conveyor.schemas.retraining import MAX_VERSION, EvaluateOn, ExplainerStatus, RunStatus
from retraining_api import data
from retraining_api.deps import QueueManagerDep, SettingsDep, StoreDep
from retraining_api.explainer import explainer_key

router = APIRouter(prefix="/retraining_api", tags=["explainer dashboards"])


@router.get(
    "/get_explainer_dashboard",
    # Response, not HTMLResponse: the 202 is JSON, and an HTML route class would document it as text/html.
    response_class=Response,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                     "description": "the dashboard, built"},
               202: {"model": ExplainerStatus, "description": "being built: ask again"}},
)
async def get_explainer_dashboard(
    model_name: Annotated[str, Query(min_length=1, max_length=200)], evaluate_on: EvaluateOn, qm: QueueManagerDep,
    store: StoreDep, settings: SettingsDep,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION,
                                         description="default: the production version")] = None,
    rows: Annotated[int | None, Query(ge=10, le=MAX_VERSION, description="explain a sample of this many rows "
                                                                         "(at most EXPLAINER_MAX_ROWS)")] = None,
    rebuild: bool = False,
) -> Response:
    """A static explainerdashboard page, built in the background once per (model, version, split, rows).

    The first request answers 202 with the build's status; ask again until the page comes.
    """
    rows = rows or settings.explainer_default_rows
    if rows > settings.explainer_max_rows:
        raise Unprocessable(f"rows={rows} is above the cap of {settings.explainer_max_rows} (EXPLAINER_MAX_ROWS)")
    algorithm = await data.resolve_version(qm, model_name, version)
    key = explainer_key(algorithm.name, algorithm.version, evaluate_on.value, rows)
    state = await run_in_threadpool(store.request_explainer, key, algorithm.name, algorithm.version,
                                    evaluate_on.value, rows, rebuild)
    if state["html"] is not None:
        return HTMLResponse(state["html"], headers={"X-Explainer-Key": key, "Cache-Control": "private, max-age=300"})
    if state["status"] == RunStatus.failed.value:
        raise Unprocessable(f"building the explainer dashboard failed: {state['error']}; "
                            "ask again with rebuild=true once the cause is fixed")
    # The name is the caller's text: encoded, so that a name holding '&' or '#' still names this model.
    query = urlencode({"model_name": algorithm.name, "version": algorithm.version,
                       "evaluate_on": evaluate_on.value, "rows": rows})
    url = f"/retraining_api/get_explainer_dashboard?{query}"
    status = ExplainerStatus(key=key, model_name=algorithm.name, version=algorithm.version, evaluate_on=evaluate_on,
                             rows=rows, status=RunStatus(state["status"]), url=url)
    return JSONResponse(status.model_dump(mode="json"), status_code=202, headers={"Retry-After": "2"})
