"""Files chosen on a form that was refused, kept on the server so the person need not choose them again.

A browser never fills a file input by itself, so a re-rendered form would lose the chosen model file. Instead
the admin writes it to a directory of its own and puts a random token in a hidden field; the next submission
of the same session names the token, and the file stands in for an empty file input. A token only works for
the session that kept it; a kept file is deleted when it is used, replaced, or an hour old. The directory is
the admin's own host's (KEPT_FILES_DIR below): with several admin replicas, the next submission must reach the
same one (sticky sessions), or the person chooses the file again.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest

KEPT_FILES_DIR = Path(tempfile.gettempdir()) / "conveyor-admin-kept-files"
MAX_AGE_SECONDS = 3600
SESSION_KEY = "conveyor_kept_files"
CHUNK = 1024 * 1024
TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")  # secrets.token_urlsafe(24): a file name and nothing else


@dataclass(frozen=True)
class KeptFile:
    token: str
    name: str
    size: int
    path: Path

    def read(self) -> bytes:
        return self.path.read_bytes()


class KeptFiles:
    """The files kept for one person's session."""

    def __init__(self, request: HttpRequest, directory: Path = KEPT_FILES_DIR) -> None:
        self.session = request.session
        self.directory = directory

    def _entries(self) -> dict[str, dict[str, Any]]:
        entries = self.session.get(SESSION_KEY)
        return entries if isinstance(entries, dict) else {}

    def _save(self, entries: dict[str, dict[str, Any]]) -> None:
        self.session[SESSION_KEY] = entries
        self.session.modified = True

    def keep(self, upload: UploadedFile) -> KeptFile:
        self.sweep()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24)
        path = self.directory / token
        with path.open("wb") as out:
            for chunk in upload.chunks(CHUNK):
                out.write(chunk)
        name = Path(upload.name or "model.pkl").name
        entries = self._entries()
        entries[token] = {"name": name, "size": path.stat().st_size, "at": time.time()}
        self._save(entries)
        return KeptFile(token, name, entries[token]["size"], path)

    def get(self, token: str) -> KeptFile | None:
        """The kept file `token` names, if this session kept it, it is still there and not too old."""
        entry = self._entries().get(token) if TOKEN.fullmatch(token) else None
        if not entry or time.time() - float(entry.get("at", 0)) > MAX_AGE_SECONDS:
            return None
        path = self.directory / token
        return KeptFile(token, str(entry["name"]), int(entry["size"]), path) if path.is_file() else None

    def discard(self, *tokens: str) -> None:
        entries = self._entries()
        for token in tokens:
            if entries.pop(token, None) is not None and TOKEN.fullmatch(token):
                (self.directory / token).unlink(missing_ok=True)
        self._save(entries)

    def sweep(self) -> None:
        """Delete every kept file over an hour old (any session's): a form left refused keeps nothing for long."""
        if not self.directory.is_dir():
            return
        cutoff = time.time() - MAX_AGE_SECONDS
        for path in self.directory.iterdir():
            try:
                if path.stat().st_mtime >= cutoff:
                    continue
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except FileNotFoundError:  # another request swept it first
                pass
