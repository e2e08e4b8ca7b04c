"""`conveyor status`: each component's health, the job counts by status and the row counts."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence

import httpx
from prometheus_client.parser import text_string_to_metric_families

from conveyor.clients import APIError, APIUnavailable, MLDataClient, QueueManagerClient
from conveyor_tools import localenv
from conveyor_tools.cli.common import read_token, service_url


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
    report: dict = {"components": {}, "jobs": None, "rows": None}
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
    async with MLDataClient(urls["ml_data_api"], token, timeout=5) as ml:
        try:
            report["rows"] = (await ml.counts(dataset)).model_dump()
        except (APIError, APIUnavailable) as exc:
            report["rows"] = str(exc)
    return report


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
    healthy = all(i["status"] == "ready" for i in report["components"].values())
    return 0 if healthy else 1
