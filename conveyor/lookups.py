"""Lookups the HTTP services make in queue_manager, with its answers turned into their own errors."""

from __future__ import annotations

from conveyor.api.errors import NotFound, Unavailable, Unprocessable
from conveyor.clients import APIError, APIUnavailable, QueueManagerClient
from conveyor.schemas.datasets import Dataset, DatasetSchema


async def dataset_schema(qm: QueueManagerClient, name: str) -> DatasetSchema:
    """A dataset's schema: 404 when queue_manager does not know it, 503 when it cannot be asked."""
    return (await registered_dataset(qm, name)).to_schema()


async def registered_dataset(qm: QueueManagerClient, name: str) -> Dataset:
    """The dataset as queue_manager has it: NotFound (404) when it does not know it, Unavailable (503) when it
    cannot be asked."""
    if not name:  # no URL names it: asked, queue_manager would answer its list of datasets
        raise Unprocessable("the dataset's name is empty: give the name of a dataset queue_manager knows")
    try:
        return await qm.get_dataset(name)
    except APIError as exc:
        if exc.status_code == 404:
            raise NotFound(f"unknown dataset {name!r} in queue_manager: {exc.detail}") from exc
        if exc.status_code in (400, 422):  # the name itself is refused (no dataset could hold it)
            raise Unprocessable(f"dataset {name!r}: {exc.detail}") from exc
        # Any other refusal (a wrong token) is this service's configuration, not the caller's request.
        raise Unavailable(f"queue_manager refused to look dataset {name!r} up: {exc}") from exc
    except APIUnavailable as exc:
        raise Unavailable(f"queue_manager is unreachable: {exc}") from exc
