"""Client of queue_manager: datasets, algorithms, services and jobs."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from pydantic import ValidationError

from conveyor.clients.base import APIError, BaseClient, part
from conveyor.schemas.algorithms import Algorithm, AlgorithmPatch, HoldoutWindow, StageUpdate
from conveyor.schemas.datasets import Dataset, DatasetSchema
from conveyor.schemas.jobs import (
    Job,
    JobCompleted,
    JobCreate,
    JobPage,
    JobsBulkCreate,
    JobsBulkCreated,
    JobsBulkUpdate,
    JobsBulkUpdated,
    JobsCompleted,
    JobsCompletedWritten,
    JobStats,
    JobUpdate,
    JobUpdateItem,
)
from conveyor.schemas.services import (
    ChallengerHealth,
    ChallengerPromoted,
    ChallengerPromotion,
    Service,
    ServiceChange,
    ServiceCreate,
    ServiceUpdate,
)

log = logging.getLogger(__name__)

UPLOAD_TIMEOUT_SECONDS = 180.0
PREFIX = "/queue_manager"  # every queue_manager route starts with it
USER_HEADER = "X-Conveyor-User"  # who changes a service, for its history


def _by(by: str | None) -> dict[str, str]:
    return {USER_HEADER: by} if by else {}


class QueueManagerClient(BaseClient):
    # datasets
    async def create_dataset(self, schema: DatasetSchema) -> Dataset:
        return Dataset(**await self.json("POST", f"{PREFIX}/datasets", json=schema.model_dump(mode="json")))

    async def get_dataset(self, name: str) -> Dataset:
        return Dataset(**await self.json("GET", f"{PREFIX}/datasets/{part(name)}"))

    async def list_datasets(self) -> list[Dataset]:
        """The datasets; one stored under rules since tightened (a name ending in a line break) is left out and
        logged, so that it does not hide the others (queue_manager still lists it, to be deleted)."""
        datasets = []
        for answer in await self.json("GET", f"{PREFIX}/datasets"):
            try:
                datasets.append(Dataset(**answer))
            except ValidationError as exc:
                log.warning("dataset %r from queue_manager is left out: %s", answer.get("name"), exc.errors()[0]["msg"])
        return datasets

    async def ensure_dataset(self, schema: DatasetSchema) -> Dataset:
        try:
            return await self.get_dataset(schema.name)
        except APIError as exc:
            if exc.status_code != 404:
                raise
        return await self.create_dataset(schema)

    async def delete_dataset(self, name: str) -> None:
        await self.request("DELETE", f"{PREFIX}/datasets/{part(name)}")

    # algorithms
    async def upload_algorithm(
        self,
        *,
        name: str,
        dataset: str,
        model: bytes,
        filename: str = "model.pkl",
        config: bytes | None = None,
        config_filename: str = "config.pkl",
        framework: str = "",
        description: str = "",
        metrics: dict[str, Any] | None = None,
        stage: str = "staging",
        holdout: HoldoutWindow | None = None,
    ) -> Algorithm:
        files: dict[str, tuple[str, bytes, str]] = {
            "file": (filename, model, "application/octet-stream")
        }
        if config is not None:
            files["config_file"] = (config_filename, config, "application/octet-stream")
        data = {
            "name": name, "dataset": dataset, "framework": framework,
            "description": description, "metrics": json.dumps(metrics or {}), "stage": stage,
        }
        if holdout is not None:  # the rows `metrics` were scored on
            data["holdout"] = holdout.model_dump_json()
        # queue_manager loads the model and makes it predict in a separate process before it answers
        # (MODEL_CHECK_SECONDS, 60 by default): wait for that, whatever this client's usual timeout.
        timeout = max(self._http.timeout.read or 0.0, UPLOAD_TIMEOUT_SECONDS)
        return Algorithm(**await self.json("POST", f"{PREFIX}/algorithms", data=data, files=files, timeout=timeout))

    async def list_algorithms(self, **filters: Any) -> list[Algorithm]:
        return [Algorithm(**a) for a in await self.json("GET", f"{PREFIX}/algorithms", params=filters)]

    async def get_algorithm(self, name: str, version: int | str) -> Algorithm:
        return Algorithm(**await self.json("GET", f"{PREFIX}/algorithms/{part(name)}/{part(version)}"))

    async def download_algorithm(self, name: str, version: int | str) -> bytes:
        response = await self.request("GET", f"{PREFIX}/algorithms/{part(name)}/{part(version)}/file")
        expected = response.headers.get("x-checksum-sha256")
        if expected and hashlib.sha256(response.content).hexdigest() != expected:
            raise APIError(502, "model file checksum mismatch in transit", f"{name}/{version}")
        return response.content

    async def update_algorithm(self, name: str, version: int | str, patch: AlgorithmPatch) -> Algorithm:
        body = patch.model_dump(mode="json", exclude_none=True)
        return Algorithm(**await self.json("PATCH", f"{PREFIX}/algorithms/{part(name)}/{part(version)}", json=body))

    async def delete_algorithm(self, name: str, version: int | str) -> None:
        await self.request("DELETE", f"{PREFIX}/algorithms/{part(name)}/{part(version)}")

    async def set_stage(self, name: str, version: int, update: StageUpdate) -> Algorithm:
        body = update.model_dump(mode="json")
        return Algorithm(
            **await self.json("PATCH", f"{PREFIX}/algorithms/{part(name)}/{part(version)}/stage", json=body)
        )

    # services
    async def create_service(self, service: ServiceCreate) -> Service:
        return Service(
            **await self.json("POST", f"{PREFIX}/services", json=service.model_dump(mode="json"))
        )

    async def get_service(self, name: str) -> Service:
        return Service(**await self.json("GET", f"{PREFIX}/services/{part(name)}"))

    async def list_services(self) -> list[Service]:
        return [Service(**s) for s in await self.json("GET", f"{PREFIX}/services")]

    async def update_service(self, name: str, update: ServiceUpdate, by: str | None = None) -> Service:
        """`by`: who changes it (a user, a component), recorded in the service's history ("api" if not sent)."""
        body = update.model_dump(mode="json", exclude_unset=True)
        return Service(**await self.json("PATCH", f"{PREFIX}/services/{part(name)}", json=body, headers=_by(by)))

    async def promote_challenger(self, name: str, promotion: ChallengerPromotion) -> ChallengerPromoted:
        body = promotion.model_dump(mode="json")
        return ChallengerPromoted(
            **await self.json("POST", f"{PREFIX}/services/{part(name)}/challenger/promote", json=body))

    async def report_challenger_health(self, name: str, health: ChallengerHealth) -> Service:
        body = health.model_dump(mode="json")
        return Service(**await self.json("PUT", f"{PREFIX}/services/{part(name)}/challenger/health", json=body))

    async def service_history(self, name: str, limit: int | None = None) -> list[ServiceChange]:
        """Newest first."""
        changes = await self.json("GET", f"{PREFIX}/services/{part(name)}/history", params={"limit": limit})
        return [ServiceChange(**c) for c in changes]

    async def delete_service(self, name: str) -> None:
        await self.request("DELETE", f"{PREFIX}/services/{part(name)}")

    # jobs
    async def list_jobs(self, **filters: Any) -> JobPage:
        return JobPage(**await self.json("GET", f"{PREFIX}/jobs", params=filters))

    async def create_jobs(self, jobs: list[JobCreate]) -> JobsBulkCreated:
        body = JobsBulkCreate(jobs=jobs).model_dump(mode="json")
        return JobsBulkCreated(**await self.json("POST", f"{PREFIX}/jobs/bulk", json=body))

    async def complete_jobs(self, jobs: list[JobCompleted]) -> JobsCompletedWritten:
        """Write jobs once, in their final state; a record's job written before answers `existing`."""
        body = JobsCompleted(jobs=jobs).model_dump(mode="json")
        return JobsCompletedWritten(**await self.json("POST", f"{PREFIX}/jobs/completed", json=body))

    async def update_jobs(self, updates: list[JobUpdateItem]) -> JobsBulkUpdated:
        body = JobsBulkUpdate(updates=updates).model_dump(mode="json")
        return JobsBulkUpdated(**await self.json("PATCH", f"{PREFIX}/jobs/bulk", json=body))

    async def get_job(self, job_id: str) -> Job:
        return Job(**await self.json("GET", f"{PREFIX}/jobs/{part(job_id)}"))

    async def update_job(self, job_id: str, update: JobUpdate) -> Job:
        body = update.model_dump(mode="json", exclude_unset=True)
        return Job(**await self.json("PATCH", f"{PREFIX}/jobs/{part(job_id)}", json=body))

    async def job_stats(self, service: str | None = None, window_minutes: int = 60) -> JobStats:
        params = {"service": service or None, "window_minutes": window_minutes}
        return JobStats(**await self.json("GET", f"{PREFIX}/jobs/stats", params=params))
