"""Which model serves a record in split mode: a stable hash of its record_id, the same in every process.

Python's `hash()` is salted per process, so it cannot be used: a redelivered record must land on the same
model whichever replica takes it, before or after a restart. The first 8 bytes of blake2b (default 64-byte
digest) of the record_id's UTF-8 bytes, read big-endian and divided by 2**64, give a place in [0, 1); the
record goes to the challenger when its place is below the service's challenger_share. Raising the share
only moves records from the champion to the challenger, never back.
"""

from __future__ import annotations

import hashlib

SPAN = 2**64


def share_of(record_id: str) -> float:
    """The record's place in [0, 1)."""
    digest = hashlib.blake2b(record_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / SPAN


def serves_challenger(record_id: str, share: float) -> bool:
    return share_of(record_id) < share
