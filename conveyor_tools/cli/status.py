"""`conveyor status`: each component's health, the job counts by status, the row counts, and each service queue's
depth and consumers: from RabbitMQ's management API when RABBITMQ_MANAGEMENT_URL names it, else (said so) from an
AMQP passive declare of each registered service's queue, which gives its ready messages and consumers only."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import Any

import aio_pika
import httpx
from prometheus_client.parser import text_string_to_metric_families

from conveyor.amqp import BROKER_FAULTS, dead_letter_queue_name
from conveyor.clients import APIError, APIUnavailable, MLDataClient, QueueManagerClient
from conveyor.clients.rabbitmq_management import RabbitMQManagementClient, shown
from conveyor.settings import DEFAULT_AMQP_URL, describe
from conveyor_tools import localenv
from conveyor_tools.cli.common import read_token, service_url
from django_admin.environment import AdminSettings

# The variable naming the management API, as the admin's settings declare it (declared once, there).
MANAGEMENT_URL = next(d.variable for d in describe(AdminSettings) if d.field_name == "rabbitmq_management_url")


def register(sub: argparse._SubParsersAction, words: Sequence[str] = ()) -> None:
    p = sub.add_parser("status", help="health of each component, job and row counts")
    p.add_argument("--dataset", default="product_quality")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def components() -> dict[str, str]:
    return {
        "queue_manager": service_url("QUEUE_MANAGER"),
        "ml_data_api": service_url("ML_DATA_API"),
        "monitoring_api": service_url("MONITORING_API"),
        "retraining_api": service_url("RETRAINING_API"),
        "django_admin": service_url("ADMIN"),
    }


async def collect(dataset: str) -> dict:
    report: dict = {"components": {}, "jobs": None, "rows": None, "queues": None}
    async with httpx.AsyncClient(timeout=3) as http:
        for name, url in components().items():
            try:
                ready = await http.get(f"{url}/ready")
                report["components"][name] = {"url": url, "status": ready.json().get("status")}
            except httpx.HTTPError as exc:
                report["components"][name] = {"url": url, "status": f"down ({type(exc).__name__})"}
        for i, url in enumerate(u for u in localenv.lookup("WORKER_METRICS").split(",") if u):
            report["components"][f"worker-{i + 1}"] = await _worker(http, url)
    token = read_token()  # it only reads
    urls = components()
    async with QueueManagerClient(urls["queue_manager"], token, timeout=5) as qm:
        try:
            report["jobs"] = (await qm.job_stats(window_minutes=60)).counts
        except (APIError, APIUnavailable) as exc:
            report["jobs"] = str(exc)

        async def registered_queues() -> list[str]:
            return sorted({service.queue for service in await qm.list_services()})

        report["queues"] = await queue_report(localenv.lookup(MANAGEMENT_URL),
                                              localenv.lookup("AMQP_URL", DEFAULT_AMQP_URL), registered_queues)
    async with MLDataClient(urls["ml_data_api"], token, timeout=5) as ml:
        try:
            report["rows"] = (await ml.counts(dataset)).model_dump()
        except (APIError, APIUnavailable) as exc:
            report["rows"] = str(exc)
    return report


async def queue_report(management_url: str, amqp_url: str,
                       registered_queues: Callable[[], Awaitable[list[str]]]) -> dict[str, Any]:
    """{"source": where the figures come from, in words, "queues": one dict a service queue}."""
    if management_url:
        client = RabbitMQManagementClient(management_url)
        try:
            queues = await client.service_queues()
            return {"source": f"RabbitMQ management API at {client.shown}",
                    "queues": [asdict(q) for q in queues]}
        except (APIError, APIUnavailable) as exc:
            why = f"RabbitMQ management API at {client.shown} did not answer ({exc})"
        finally:
            await client.aclose()
    else:
        why = f"RabbitMQ management API not enabled ({MANAGEMENT_URL} is unset)"
    source = f"{why}: ready messages and consumers from an AMQP passive declare at {shown(amqp_url)}"
    try:
        names = await registered_queues()
    except (APIError, APIUnavailable) as exc:
        return {"source": f"{source}; the services' queues are unknown: {exc}", "queues": []}
    try:
        return {"source": source, "queues": await _passive_declare(amqp_url, names)}
    except BROKER_FAULTS as exc:
        return {"source": f"{source}; the broker did not answer ({type(exc).__name__}: {exc})", "queues": []}


async def _passive_declare(amqp_url: str, names: list[str]) -> list[dict[str, Any]]:
    """Each queue's ready messages and consumers, and its dead letters, without declaring anything."""
    connection = await aio_pika.connect(amqp_url, timeout=5)
    try:
        found = []
        for name in names:
            counts: list[tuple[int, int] | None] = []
            for queue in (name, dead_letter_queue_name(name)):
                # A passive declare of a missing queue closes its channel: one channel a queue.
                channel = await connection.channel()
                try:
                    declared = (await channel.declare_queue(queue, passive=True)).declaration_result
                    counts.append((int(declared.message_count or 0), int(declared.consumer_count or 0)))
                except aio_pika.exceptions.ChannelClosed:
                    counts.append(None)
                finally:
                    if not channel.is_closed:
                        await channel.close()
            (main, dead) = counts
            if main is None:
                found.append({"name": name, "missing": True})
            else:
                found.append({"name": name, "ready": main[0], "consumers": main[1],
                              "dead_letters": dead[0] if dead else 0})
        return found
    finally:
        await connection.close()


def _queue_line(queue: dict[str, Any]) -> str:
    if queue.get("missing"):
        return f"  {queue['name']:<30} not declared on the broker yet"
    waiting = (f"{queue['messages']:,} waiting (ready {queue['ready']:,}, unacknowledged {queue['unacknowledged']:,})"
               if "messages" in queue else f"{queue['ready']:,} ready")
    return f"  {queue['name']:<30} {waiting}, {queue['consumers']} consumers, {queue['dead_letters']:,} dead letters"


async def _worker(http: httpx.AsyncClient, url: str) -> dict:
    """A worker's health from its Prometheus metrics: model in use and messages handled."""
    try:
        text = (await http.get(url)).text
    except httpx.HTTPError as exc:
        return {"url": url, "status": f"down ({type(exc).__name__})"}
    model, handled = "", {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "worker_model_version" and sample.value:
                model = f"{sample.labels['model']} v{int(sample.value)}"
            if sample.name == "worker_messages_total":
                handled[sample.labels["outcome"]] = int(sample.value)
    return {"url": url, "status": "ready", "model": model, "messages": handled}


def run(args: argparse.Namespace) -> int:
    report = asyncio.run(collect(args.dataset))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, info in report["components"].items():
            extra = f"  {info['model']} {info['messages']}" if "model" in info else ""
            print(f"{name:<16} {info['status']:<12} {info['url']}{extra}")
        print(f"jobs (last 60 min) {report['jobs']}")
        print(f"rows {args.dataset}: {report['rows']}")
        print(f"queues ({report['queues']['source']})")
        for queue in report["queues"]["queues"]:
            print(_queue_line(queue))
    healthy = all(i["status"] == "ready" for i in report["components"].values())
    return 0 if healthy else 1
