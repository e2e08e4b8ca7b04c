"""The HTTP clients of one process: one per peer service, built by its composition root, closed on shutdown.

One client per peer keeps its connection pool alive across requests, checks and runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Self

from conveyor.clients.ml_data import MLDataClient
from conveyor.clients.queue_manager import QueueManagerClient


class PeerSettings(Protocol):
    """What a component's settings say about its peers."""

    @property
    def queue_manager_url(self) -> str: ...

    @property
    def ml_data_api_url(self) -> str: ...

    @property
    def api_token(self) -> str: ...


@dataclass(frozen=True)
class PeerClients:
    queue_manager: QueueManagerClient
    ml_data: MLDataClient

    @classmethod
    def open(cls, settings: PeerSettings, *, queue_manager_timeout: float = 60.0,
             ml_data_timeout: float = 120.0) -> PeerClients:
        """Clients with the API's timeouts by default (reading a window of rows may take a while)."""
        return cls(
            QueueManagerClient(settings.queue_manager_url, settings.api_token, timeout=queue_manager_timeout),
            MLDataClient(settings.ml_data_api_url, settings.api_token, timeout=ml_data_timeout),
        )

    async def aclose(self) -> None:
        await self.queue_manager.aclose()
        await self.ml_data.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
