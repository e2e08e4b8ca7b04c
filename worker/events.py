"""What this worker announces on the platform's events exchange: a model of its service that failed.

Publishing never holds up the worker and never fails it: it runs in the background, bounded in time, and a
broker that cannot take the event is logged (the service's stored health says the same thing, more slowly).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from aio_pika.abc import AbstractExchange

from conveyor.amqp import publish_event
from conveyor.schemas.algorithms import AlgorithmRef

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT = 5.0


def model_failed_key(service: str) -> str:
    return f"service.{service}.model_failed"


class WorkerEvents:
    def __init__(self, service: str, worker_id: str) -> None:
        self.service = service
        self.worker_id = worker_id
        self.exchange: AbstractExchange | None = None  # attached once the worker is connected to the broker
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, exchange: AbstractExchange) -> None:
        self.exchange = exchange

    def model_failed(self, role: str, stage: str, model: AlgorithmRef, error: str,
                     serving: AlgorithmRef | None) -> None:
        body: dict[str, Any] = {"event": "model_failed", "service": self.service, "role": role, "stage": stage,
                "model": model.model_dump(), "error": error, "serving": serving.model_dump() if serving else None,
                "worker": self.worker_id, "at": datetime.now(UTC).isoformat()}
        key = model_failed_key(self.service)
        if self.exchange is None:
            log.warning("event %s not published: not connected to the broker yet", key)
            return
        task = asyncio.create_task(self._publish(self.exchange, key, body))
        self._tasks.add(task)  # a task nobody holds may be collected before it runs
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, exchange: AbstractExchange, key: str, body: dict[str, Any]) -> None:
        try:
            await asyncio.wait_for(publish_event(exchange, key, body), PUBLISH_TIMEOUT)
        except Exception as exc:
            log.warning("event %s not published: %s", key, exc)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=PUBLISH_TIMEOUT)
