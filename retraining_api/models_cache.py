"""Model files by (name, version), loaded once: a version's file never changes."""

from __future__ import annotations

import asyncio
from typing import Any

from conveyor.api.errors import Unavailable
from conveyor.clients import APIUnavailable, QueueManagerClient
from conveyor.lru import LRU
from conveyor.training import load_model


class ModelCache:
    def __init__(self, size: int = 8) -> None:
        self._models: LRU[tuple[str, int], Any] = LRU(size)
        self._lock = asyncio.Lock()

    async def get(self, qm: QueueManagerClient, name: str, version: int) -> Any:
        key = (name, version)
        async with self._lock:
            model = self._models.get(key)
            if model is None:
                try:
                    content = await qm.download_algorithm(name, version)
                except APIUnavailable as exc:
                    raise Unavailable(f"queue_manager is unreachable: {exc}") from exc
                model = await asyncio.to_thread(load_model, content)
                self._models.put(key, model)
            return model
