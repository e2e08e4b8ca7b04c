"""Client of ml_data_api: tables per dataset, bulk rows, labels and queries."""

from __future__ import annotations

from typing import Any

from conveyor.clients.base import BaseClient, part
from conveyor.schemas.data import Counts, InsertResult, LabelsResult, RowsPage
from conveyor.schemas.datasets import DatasetSchema

PREFIX = "/ml_data_api"  # every ml_data_api route starts with it


class MLDataClient(BaseClient):
    async def register_dataset(self, schema: DatasetSchema) -> dict[str, Any]:
        return await self.json("PUT", f"{PREFIX}/datasets/{part(schema.name)}", json=schema.model_dump(mode="json"))

    async def get_dataset(self, name: str) -> DatasetSchema:
        """The schema the dataset's tables were built from (made on first use of a queue_manager dataset)."""
        return DatasetSchema(**await self.json("GET", f"{PREFIX}/datasets/{part(name)}"))

    async def delete_dataset(self, name: str) -> None:
        """Drop the dataset's tables; a 404 when there are none."""
        await self.request("DELETE", f"{PREFIX}/datasets/{part(name)}")

    async def insert_rows(
        self, dataset: str, split: str, rows: list[dict[str, Any]]
    ) -> InsertResult:
        body = {"rows": rows}
        return InsertResult(
            **await self.json("POST", f"{PREFIX}/datasets/{part(dataset)}/{part(split)}/rows", json=body)
        )

    async def upload_csv(self, dataset: str, split: str, content: bytes) -> InsertResult:
        files = {"file": ("rows.csv", content, "text/csv")}
        return InsertResult(
            **await self.json("POST", f"{PREFIX}/datasets/{part(dataset)}/{part(split)}/csv", files=files)
        )

    async def post_labels(
        self, dataset: str, labels: list[dict[str, Any]], append_to_training: bool = False
    ) -> LabelsResult:
        body = {"labels": labels, "append_to_training": append_to_training}
        return LabelsResult(
            **await self.json("POST", f"{PREFIX}/datasets/{part(dataset)}/labels", json=body)
        )

    async def rows(self, dataset: str, split: str, **params: Any) -> RowsPage:
        return RowsPage(
            **await self.json("GET", f"{PREFIX}/datasets/{part(dataset)}/{part(split)}/rows", params=params)
        )

    async def rows_csv(self, dataset: str, split: str, **params: Any) -> bytes:
        response = await self.request(
            "GET", f"{PREFIX}/datasets/{part(dataset)}/{part(split)}/rows", params={**params, "format": "csv"}
        )
        return response.content

    async def counts(self, dataset: str) -> Counts:
        return Counts(**await self.json("GET", f"{PREFIX}/datasets/{part(dataset)}/counts"))
