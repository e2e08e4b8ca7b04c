"""Client of retraining_api: runs, promotion, evaluation and explainer dashboards."""

from __future__ import annotations

from typing import Any

from conveyor.clients.base import BaseClient
from conveyor.schemas.retraining import Evaluation, Promotion, PyCaretModels, Run, RunAccepted, RunCreate

P = "/retraining_api"


class RetrainingClient(BaseClient):
    async def start_run(self, run: RunCreate) -> RunAccepted:
        body = run.model_dump(mode="json", exclude_none=True)
        return RunAccepted(**await self.json("POST", f"{P}/runs", json=body))

    async def get_run(self, run_id: int) -> Run:
        return Run(**await self.json("GET", f"{P}/runs/{run_id}"))

    async def list_runs(self, **filters: Any) -> list[Run]:
        params = {k: v for k, v in filters.items() if v is not None}
        return [Run(**r) for r in await self.json("GET", f"{P}/runs", params=params)]

    async def promote_run(self, run_id: int) -> Promotion:
        return Promotion(**await self.json("POST", f"{P}/runs/{run_id}/promote"))

    async def promote_version(self, name: str, version: int) -> Promotion:
        return Promotion(**await self.json("POST", f"{P}/models/{name}/{version}/promote"))

    async def evaluate(self, model_name: str, evaluate_on: str, version: int | None = None) -> Evaluation:
        params = {"model_name": model_name, "evaluate_on": evaluate_on, "version": version}
        return Evaluation(**await self.json("GET", f"{P}/evaluate",
                                            params={k: v for k, v in params.items() if v is not None}))

    async def pycaret_models(self, task: str) -> PyCaretModels:
        return PyCaretModels(**await self.json("GET", f"{P}/pycaret_models", params={"task": task}))

    async def explainer(self, **params: Any) -> tuple[int, str]:
        """(status, body): 200 with the HTML when built, 202 with the build's status as JSON."""
        query = {k: v for k, v in params.items() if v is not None}
        response = await self.request("GET", f"{P}/get_explainer_dashboard", params=query)
        return response.status_code, response.text
