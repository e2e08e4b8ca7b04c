"""SIGTERM and SIGINT as a stop request: the process finishes what it has in hand, then ends."""

from __future__ import annotations

import asyncio
import signal


def stop_on_signals(stop: asyncio.Event) -> asyncio.Event:
    """Set `stop` on SIGTERM or SIGINT (call inside the running event loop); answers `stop`."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
