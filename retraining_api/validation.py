"""Checks a run request passes before it is queued, so bad input gets a 4xx, not a failed run later."""

from __future__ import annotations

import asyncio

from conveyor.api.errors import NotFound, Unprocessable
from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.lookups import dataset_schema
from conveyor.schemas.datasets import Task
from conveyor.schemas.retraining import RunCreate
from conveyor.training import available_models
from retraining_api import data


async def pycaret_models(task: Task) -> dict[str, str]:
    return await asyncio.to_thread(available_models, task)


async def validate_run(body: RunCreate, qm: QueueManagerClient, ml: MLDataClient) -> None:
    schema = await dataset_schema(qm, body.dataset)
    versions = await data.versions_of(qm, body.algorithm)
    if not versions and not body.new_model:
        raise NotFound(f"unknown model {body.algorithm!r}: queue_manager has no versions of it "
                       "(pass new_model=true to train its first version)")
    other = next((a for a in versions if a.dataset != schema.name), None)
    if other is not None:
        raise Unprocessable(f"model {body.algorithm!r} was trained for dataset {other.dataset!r}, "
                            f"not {schema.name!r}")
    if body.include is not None:
        if not body.include:
            raise Unprocessable("include is empty: name at least one PyCaret model id, or leave it out")
        known = await pycaret_models(schema.task)
        unknown = sorted(set(body.include) - set(known))
        if unknown:
            raise Unprocessable(f"unknown PyCaret model id(s) {unknown} for {schema.task.value}; "
                                f"valid ids: {sorted(known)}")
    if body.wait_for_labels is None:  # a waiting run is queued once its rows exist
        await data.check_available(ml, schema, body.training, body.holdout, body.service)
