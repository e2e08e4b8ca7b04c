"""Recent alert episodes as table rows, a page at a time (an EpisodePage from monitoring_api)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from conveyor.schemas.monitoring import Episode, EpisodePage

PAGE_SIZE = 10


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "–"


def _worst(worst: dict[str, Any]) -> str:
    parts = [f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in worst.items()
             if not isinstance(v, dict | list)]
    return ", ".join(parts[:4]) or "–"


def episode_row(episode: Episode) -> dict[str, Any]:
    return {"episode": episode.id, "kind": episode.kind + (" (estimated)" if episode.estimated else ""),
            "status": episode.status.value, "started": _when(episode.started_at), "ended": _when(episode.ended_at),
            "checks": episode.checks, "features": ", ".join(episode.features) or "–",
            "worst": _worst(episode.worst)}


def page_label(page: EpisodePage, offset: int) -> str:
    if not page.total:
        return "no episodes yet"
    last = min(offset + len(page.items), page.total)
    return f"episodes {offset + 1}–{last} of {page.total} (newest first)"


def page_offset(offset: int, step: int, total: int, size: int = PAGE_SIZE) -> int:
    """The offset after moving `step` pages (−1 back, +1 on), kept within the episodes there are."""
    moved = offset + step * size
    last_page = max(0, (total - 1) // size * size)
    return max(0, min(moved, last_page))


def paging_disabled(offset: int, total: int, size: int = PAGE_SIZE) -> tuple[bool, bool]:
    """(previous disabled, next disabled)."""
    return offset <= 0, offset + size >= total
