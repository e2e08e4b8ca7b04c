"""Models by (name, version): downloaded once, checked against their sha256, cached on disk, loaded with the
platform's one loader (conveyor.model_files: skops, or pickle where MODEL_ALLOW_PICKLE allows it)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conveyor.clients import QueueManagerClient
from conveyor.model_files import ModelFileSettings, UnloadableModel, load_model, model_file_settings
from conveyor.schemas.algorithms import AlgorithmRef

# UnloadableModel is the loader's: the worker catches it from here as before, with the loader's sentence.
__all__ = ["ChecksumMismatch", "LoadedModel", "ModelStore", "UnloadableModel"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: int
    model: Any


class ChecksumMismatch(RuntimeError):
    pass


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ModelStore:
    def __init__(self, qm: QueueManagerClient, cache_dir: str | Path, files: ModelFileSettings | None = None) -> None:
        self.qm = qm
        self.cache_dir = Path(cache_dir)
        self.files = files or model_file_settings()

    def path(self, name: str, version: int) -> Path:
        return self.cache_dir / name / f"{version}.model"

    async def load(self, ref: AlgorithmRef) -> LoadedModel:
        algorithm = await self.qm.get_algorithm(ref.name, ref.version)
        expected = algorithm.file.sha256
        path = self.path(ref.name, ref.version)
        content: bytes | None = None
        if not (path.exists() and _sha256(path) == expected):
            content = await self.qm.download_algorithm(ref.name, ref.version)
            if hashlib.sha256(content).hexdigest() != expected:
                raise ChecksumMismatch(f"model {ref.name} v{ref.version}: downloaded bytes do not match sha256")
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename: another replica reading the cache never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".download-")
            with os.fdopen(fd, "wb") as f:
                f.write(content)
            os.replace(tmp, path)
            log.info("model %s v%s downloaded (%d bytes)", ref.name, ref.version, len(content))
        if content is None:
            content = path.read_bytes()
        # A pickle's code runs here, in the worker: only where MODEL_ALLOW_PICKLE allows it.
        model = await asyncio.to_thread(load_model, content, algorithm.file.filename,
                                        what=f"model {ref.name} v{ref.version}", settings=self.files)
        return LoadedModel(ref.name, ref.version, model)
