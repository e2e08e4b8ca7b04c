"""RabbitMQ's management API (the rabbitmq_management plugin): each service queue's depth and consumers.

The URL carries the credentials as an AMQP URL does, `http://USER:PASSWORD@HOST:15672/api`; they are sent as
HTTP basic auth, and `shown` gives the URL without the password for messages. The platform's token is never
sent to the broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from conveyor.amqp import dead_letter_exchange_name, dead_letter_queue_name
from conveyor.clients.base import BaseClient, part

# What /api/queues is asked for: a queue's counts and arguments, none of its per-message statistics.
COLUMNS = "name,vhost,messages,messages_ready,messages_unacknowledged,consumers,arguments"


def shown(url: str) -> str:
    """The URL as a message may show it: without its password."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(userinfo=parsed.userinfo.split(b":")[0])) if parsed.password else url


@dataclass(frozen=True)
class QueueDepth:
    name: str
    messages: int  # ready + unacknowledged
    ready: int
    unacknowledged: int
    consumers: int
    dead_letters: int  # messages in the queue's `<queue>.dead`


class RabbitMQManagementClient(BaseClient):
    """`token` is there for the admin's one way of making clients (platform.ClientLoop) and is never sent."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        parsed = httpx.URL(url)
        super().__init__(str(parsed.copy_with(username=None, password=None)), None, timeout, transport)
        if parsed.username:
            self._http.auth = httpx.BasicAuth(parsed.username, parsed.password or "")
        self.shown = shown(url)

    async def service_queues(self, vhost: str = "/") -> list[QueueDepth]:
        """The platform's service queues (those declared with their `<queue>.dlx` dead-letter exchange, as every
        component declares them), deepest first, with the dead letters waiting in each one's `<queue>.dead`."""
        queues: list[dict[str, Any]] = await self.json("GET", f"/queues/{part(vhost)}", params={"columns": COLUMNS})
        by_name = {q["name"]: q for q in queues}
        found = []
        for q in queues:
            arguments = q.get("arguments") or {}
            if arguments.get("x-dead-letter-exchange") != dead_letter_exchange_name(q["name"]):
                continue
            dead = by_name.get(dead_letter_queue_name(q["name"]), {})
            found.append(QueueDepth(q["name"], int(q.get("messages") or 0), int(q.get("messages_ready") or 0),
                                    int(q.get("messages_unacknowledged") or 0), int(q.get("consumers") or 0),
                                    int(dead.get("messages") or 0)))
        return sorted(found, key=lambda d: (-d.messages, d.name))
