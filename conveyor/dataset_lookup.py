"""The dataset a command-line component works on: named, or through the service that names it.

queue_manager owns every dataset's schema; a component given `--dataset` or `--service`
takes its column names (features, target, timestamp) from there instead of assuming any.

The services' lookup of the same dataset is `conveyor.lookups` (an unknown one is a 404, a
failed lookup a 503); this one is the command line's: it waits through queue_manager's
outages, also names the dataset through a service, ends in a sentence to act on
(ValueError), and keeps FastAPI out of the command's start-up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from conveyor.clients import APIError, APIUnavailable, QueueManagerClient
from conveyor.retry import retry
from conveyor.schemas.datasets import Dataset
from conveyor.schemas.services import Service


@dataclass(frozen=True)
class DatasetInUse:
    dataset: Dataset
    service: Service | None = None


async def look_up_dataset(
    qm: QueueManagerClient, *, dataset: str | None = None, service: str | None = None,
    stop: asyncio.Event | None = None,
) -> DatasetInUse:
    """The dataset (and the service) from queue_manager; waits through its outages until `stop`.

    Raises ValueError, with a sentence to act on, when queue_manager knows neither or the two disagree.
    """
    if not dataset and not service:
        raise ValueError("name the dataset (--dataset) or the service (--service) to take its schema from")

    async def ask() -> DatasetInUse:
        found = await qm.get_service(service) if service else None
        name = dataset or (found.dataset if found else "")
        if found is not None and found.dataset != name:
            raise ValueError(f"service {found.name!r} serves dataset {found.dataset!r}, not {name!r}: "
                             "give one of --dataset / --service, or a matching pair")
        return DatasetInUse(await qm.get_dataset(name), found)

    try:
        return await retry(f"asking queue_manager at {qm.base_url} for the dataset", ask, passing=(APIUnavailable,),
                           stop=stop)
    except APIError as exc:
        what = f"dataset {dataset!r}" if dataset else f"service {service!r}"
        raise ValueError(f"queue_manager at {qm.base_url} cannot give {what}: {exc.detail}") from exc
