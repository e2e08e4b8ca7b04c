"""The id of a record's job, derived from the record: a redelivered record gets the same id for its job and its
production row, whichever worker handles it and however often.

24 hex digits, so that it is also a valid MongoDB ObjectId (the jobs log's `_id`).
"""

from __future__ import annotations

import hashlib


def job_id_for(service: str, record_id: str) -> str:
    """The first 12 bytes of sha256("<service>\\x00<record_id>"), as 24 hex digits."""
    return hashlib.sha256(f"{service}\x00{record_id}".encode()).digest()[:12].hex()
