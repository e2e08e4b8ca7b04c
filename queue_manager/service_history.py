"""A service's history: what changed, who or what decided it, and why.

Entries live in the service's document, oldest first, capped at HISTORY_CAP; they are written with `$push`
and read with a `$slice` projection, so reading a service never loads them and two writers never lose one.
"""

from __future__ import annotations

from typing import Any

from conveyor.api.errors import NotFound
from queue_manager.models import ServiceDoc, now

HISTORY_CAP = 500
USER_HEADER = "X-Conveyor-User"
DEFAULT_BY = "api"  # who changed a service when the request does not say


def entry(kind: str, assignment: dict[str, Any], by: str, reason: str = "") -> dict[str, Any]:
    """A history entry (conveyor.schemas.services.ServiceChange as stored) with the assignment after the change."""
    return {
        "at": now(), "kind": kind, "by": by or DEFAULT_BY, "reason": reason,
        "algorithm": assignment.get("algorithm"), "challenger": assignment.get("challenger"),
        "challenger_mode": assignment.get("challenger_mode"),
        "challenger_share": float(assignment.get("challenger_share") or 0.0),
    }


def push(change: dict[str, Any]) -> dict[str, Any]:
    """The `$push` of one entry that keeps only the newest HISTORY_CAP."""
    return {"history": {"$each": [change], "$slice": -HISTORY_CAP}}


def newest_first(name: str, limit: int = HISTORY_CAP) -> list[dict[str, Any]]:
    raw = ServiceDoc._get_collection().find_one({"name": name}, {"history": {"$slice": -limit}})
    if raw is None:
        raise NotFound(f"service {name!r} not found: create it with POST /queue_manager/services")
    return list(reversed(raw.get("history") or []))


def _ref(value: Any) -> str:
    return f"{value['name']} v{value['version']}" if isinstance(value, dict) else "none"


def describe(before: dict[str, Any], after: dict[str, Any]) -> str:
    """What an assignment change changed, in words: `algorithm m v1 -> m v2; challenger_mode split -> shadow`."""
    parts = []
    for field in ("algorithm", "challenger", "challenger_mode", "challenger_share", "enabled"):
        old, new = before.get(field), after.get(field)
        if old == new:
            continue
        if field in ("algorithm", "challenger"):
            parts.append(f"{field} {_ref(old)} -> {_ref(new)}")
        else:
            parts.append(f"{field} {'none' if old is None else old} -> {'none' if new is None else new}")
    return "; ".join(parts)
