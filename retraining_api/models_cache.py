"""Model files by (name, version), loaded once: a version's file never changes."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from conveyor.api.errors import Unavailable
from conveyor.clients import APIUnavailable, QueueManagerClient
from conveyor.training import load_model


class ModelCache:
    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self._lock = asyncio.Lock()

    async def get(self, qm: QueueManagerClient, name: str, version: int) -> Any:
        key = (name, version)
        async with self._lock:
            if key not in self._items:
                try:
                    content = await qm.download_algorithm(name, version)
                except APIUnavailable as exc:
                    raise Unavailable(f"queue_manager is unreachable: {exc}") from exc
                self._items[key] = await asyncio.to_thread(load_model, content)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            self._items.move_to_end(key)
            return self._items[key]
