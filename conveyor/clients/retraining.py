"""Client of retraining_api: runs, promotion, evaluation and explainer dashboards."""

from __future__ import annotations

from typing import Any

from conveyor.clients.base import BaseClient, part
from conveyor.schemas.retraining import Evaluation, Promotion, PyCaretModels, Run, RunAccepted, RunCreate

RETRAINING = "/retraining_api"


class RetrainingClient(BaseClient):
    async def start_run(self, run: RunCreate) -> RunAccepted:
        body = run.model_dump(mode="json", exclude_none=True)
        return RunAccepted(**await self.json("POST", f"{RETRAINING}/runs", json=body))

    async def get_run(self, run_id: int) -> Run:
        return Run(**await self.json("GET", f"{RETRAINING}/runs/{part(run_id)}"))

    async def list_runs(self, **filters: Any) -> list[Run]:
        return [Run(**r) for r in await self.json("GET", f"{RETRAINING}/runs", params=filters)]

    async def cancel_run(self, run_id: int) -> Run:
        """A queued run, or one waiting for labels, ends as cancelled (409 otherwise)."""
        return Run(**await self.json("POST", f"{RETRAINING}/runs/{part(run_id)}/cancel"))

    async def promote_run(self, run_id: int) -> Promotion:
        return Promotion(**await self.json("POST", f"{RETRAINING}/runs/{part(run_id)}/promote"))

    async def promote_version(self, name: str, version: int) -> Promotion:
        return Promotion(**await self.json("POST", f"{RETRAINING}/models/{part(name)}/{part(version)}/promote"))

    async def evaluate(self, model_name: str, evaluate_on: str, version: int | None = None) -> Evaluation:
        params = {"model_name": model_name, "evaluate_on": evaluate_on, "version": version}
        return Evaluation(**await self.json("GET", f"{RETRAINING}/evaluate", params=params))

    async def pycaret_models(self, task: str) -> PyCaretModels:
        return PyCaretModels(**await self.json("GET", f"{RETRAINING}/pycaret_models", params={"task": task}))

    async def explainer(self, **params: Any) -> tuple[int, str]:
        """(status, body): 200 with the HTML when built, 202 with the build's status as JSON."""
        response = await self.request("GET", f"{RETRAINING}/get_explainer_dashboard", params=params)
        return response.status_code, response.text
