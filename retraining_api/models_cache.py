"""Model files by (name, version), loaded once: a version's file never changes."""

from __future__ import annotations

import asyncio
from typing import Any

from conveyor.api.errors import Unavailable, Unprocessable
from conveyor.clients import APIUnavailable, QueueManagerClient
from conveyor.lru import LRU
from conveyor.model_files import ModelFileSettings, UnloadableModel, load_model, model_file_settings
from conveyor.schemas.algorithms import Algorithm


class ModelCache:
    def __init__(self, size: int = 8, files: ModelFileSettings | None = None) -> None:
        self._models: LRU[tuple[str, int], Any] = LRU(size)
        self._lock = asyncio.Lock()
        self.files = files or model_file_settings()

    async def get(self, qm: QueueManagerClient, algorithm: Algorithm) -> Any:
        """The version's model; 422 saying why when its file is not one this service may load."""
        key = (algorithm.name, algorithm.version)
        async with self._lock:
            model = self._models.get(key)
            if model is None:
                try:
                    content = await qm.download_algorithm(algorithm.name, algorithm.version)
                except APIUnavailable as exc:
                    raise Unavailable(f"queue_manager is unreachable: {exc}") from exc
                # A pickle's code runs here, in retraining_api: only where MODEL_ALLOW_PICKLE allows it.
                try:
                    model = await asyncio.to_thread(load_model, content, algorithm.file.filename,
                                                    what=f"model {algorithm.name} v{algorithm.version}",
                                                    settings=self.files)
                except UnloadableModel as exc:
                    raise Unprocessable(str(exc)) from exc
                self._models.put(key, model)
            return model
