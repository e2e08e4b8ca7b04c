"""A real Prometheus (Debian's /usr/bin/prometheus) against a live stack, with the repository's scrape jobs and
rules: every target is up, records flowing give a throughput, and every metric a dashboard or a rule names is one
the stack's services, worker and broker really export (or a recording rule).

The broker is a private RabbitMQ node with rabbitmq_prometheus (the machine's node does not enable it); the
config is deploy/prometheus/prometheus.yml with each job's compose targets replaced by the stack's ports.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sklearn.dummy import DummyRegressor

from conveyor.clients import QueueManagerClient
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ServiceCreate
from conveyor.training import dump_model
from conveyor_tools import devstack
from conveyor_tools.benchmarks.private_services import PrivateRabbitMQ
from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_FEATURES, demo_splits, demo_stream
from conveyor_tools.grafana_dashboards import DASHBOARDS
from conveyor_tools.grafana_dashboards.promql import metric_names
from conveyor_tools.stack import Component, Stack, StackConfig
from data_source.publisher import PublishOptions, publish_rows
from data_source.records import MessageFactory
from tests.support import wait_for

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES = ROOT / "deploy" / "prometheus" / "rules" / "conveyor.yml"
DASHBOARD_FILES = ROOT / "deploy" / "grafana" / "dashboards"
PROMETHEUS = shutil.which("prometheus")
RECORDS = 300
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="the prometheus binary is missing: "
                                                           "scripts/install_system_tools.sh installs Debian's package")


@dataclass
class Live:
    stack: Stack
    broker: PrivateRabbitMQ
    service: str
    worker: Component
    worker_port: int
    url: str  # Prometheus
    config: dict[str, Any]

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])

    def targets(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/api/v1/targets", timeout=10).json()["data"]["activeTargets"])

    def finished(self) -> int:
        answer = httpx.get(f"{self.stack.qm_url}/queue_manager/jobs", timeout=10,
                           params={"service": self.service, "status": "finished", "limit": 1},
                           headers={"Authorization": f"Bearer {self.stack.config.api_token}"})
        assert answer.status_code == 200, answer.text
        return int(answer.json()["total"])


def scrape_config(stack: Stack, broker: PrivateRabbitMQ, worker_port: int) -> dict[str, Any]:
    """The repository's config, each job's targets swapped for the stack's (scraped every second)."""
    config = yaml.safe_load(CONFIG.read_text())
    targets = {"queue_manager": stack.config.qm_port, "ml_data_api": stack.config.ml_port,
               "monitoring_api": stack.config.monitoring_port, "retraining_api": stack.config.retraining_port,
               "worker": worker_port, "rabbitmq": broker.prometheus_port, "rabbitmq_queues": broker.prometheus_port}
    for job in config["scrape_configs"]:
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": [f"127.0.0.1:{targets.pop(job['job_name'])}"]}]
    assert not targets, f"jobs the repository's config lacks: {sorted(targets)}"
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(RULES)]
    return config


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    base = tmp_path_factory.mktemp("prometheus_live")
    broker = PrivateRabbitMQ(base / "rabbitmq", plugins=("rabbitmq_prometheus",))
    config = StackConfig.throwaway()
    config.state_dir = base / "stack"
    # The broker's port is known before it listens: the stack starts meanwhile (its services retry the broker).
    config.extra_env = {"AMQP_URL": broker.amqp_url, "CHECK_INTERVAL_SECONDS": "0"}
    stack = Stack(config)
    pool = ThreadPoolExecutor(2)
    broker_started = pool.submit(broker.start)
    proc: subprocess.Popen | None = None
    try:
        stack.start()
        broker_started.result()
        service = f"prom_{uuid.uuid4().hex[:8]}"
        asyncio.run(_register(stack, service))
        worker_port = devstack.free_port()
        worker = stack.start_python("worker", name="worker", env={
            "SERVICE_NAME": service, "WORKER_ID": "prom-worker", "WORKER_METRICS_PORT": str(worker_port),
            "MODEL_CACHE_DIR": str(base / "models")})
        prometheus_config = scrape_config(stack, broker, worker_port)
        (base / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config))
        port = devstack.free_port()
        with open(base / "prometheus.log", "ab") as log:
            proc = subprocess.Popen(
                [str(PROMETHEUS), f"--config.file={base / 'prometheus.yml'}",
                 f"--storage.tsdb.path={base / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _ready(url, proc, base), 30, "Prometheus ready",
                 details=lambda: (base / "prometheus.log").read_text()[-2000:])
        yield Live(stack, broker, service, worker, worker_port, url, prometheus_config)
    finally:
        if proc is not None:
            devstack.stop_process(proc)
        broker_started.exception()  # the node is up (or failed) before it is stopped
        for stopped in [pool.submit(stack.stop), pool.submit(broker.stop)]:
            stopped.result()
        pool.shutdown()


def _ready(url: str, proc: subprocess.Popen, base: Path) -> bool:
    assert proc.poll() is None, (base / "prometheus.log").read_text()[-2000:]
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


async def _register(stack: Stack, service: str) -> None:
    training, _ = demo_splits(rows=500, seed=3)
    model = DummyRegressor().fit(training[DEMO_FEATURES], training["quality"])
    async with QueueManagerClient(stack.qm_url, stack.config.api_token) as qm:
        await qm.create_dataset(DEMO_DATASET.model_copy(update={"name": service}))
        algorithm = await qm.upload_algorithm(name=f"{service}_mean", dataset=service, model=dump_model(model))
        await qm.create_service(ServiceCreate(name=service, dataset=service, queue=service,
                                              algorithm=AlgorithmRef(name=algorithm.name, version=algorithm.version)))


def test_every_target_is_scraped(live: Live) -> None:
    jobs = {job["job_name"] for job in live.config["scrape_configs"]}

    def all_up() -> list[dict[str, Any]] | None:
        targets = live.targets()
        up = [t for t in targets if t["health"] == "up"]
        return targets if len(up) == len(targets) == len(jobs) else None

    targets = wait_for(all_up, 30, "every target up", details=lambda: json.dumps(
        [(t["labels"]["job"], t["health"], t["lastError"]) for t in live.targets()]))
    assert targets is not None and {t["labels"]["job"] for t in targets} == jobs
    assert {r["metric"]["job"] for r in live.query("up == 1")} == jobs


def test_records_flowing_give_a_throughput(live: Live) -> None:
    # The worker consumes its queue: the broker's per-queue series say so, through Prometheus.
    wait_for(lambda: live.query(f'rabbitmq_detailed_queue_consumers{{queue="{live.service}"}} == 1'), 30,
             "the worker consuming its queue", details=lambda: live.stack.log_tail("worker"))
    stream = demo_stream(RECORDS, seed=5)
    stream["record_id"] = [f"{live.service}-{i}" for i in range(len(stream))]
    factory = MessageFactory(frame=stream, features=DEMO_FEATURES, run_id=live.service, record_id_column="record_id")
    asyncio.run(publish_rows(PublishOptions(live.service, amqp_url=live.broker.amqp_url, rows=RECORDS), factory))
    wait_for(lambda: live.finished() >= RECORDS, 60, f"{RECORDS} records stored",
             details=lambda: live.stack.log_tail("worker"))

    rate = wait_for(lambda: live.query('sum(rate(worker_messages_total{outcome="finished"}[30s])) > 0'), 30,
                    "a throughput from worker_messages_total")
    assert float(rate[0]["value"][1]) > 0
    # The recording rule gives it per service (joined on worker_info), and the end-to-end percentiles exist.
    per_service = wait_for(lambda: live.query("service:worker_messages:rate1m > 0"), 30,
                           "service:worker_messages:rate1m")
    assert {(r["metric"]["service"], r["metric"]["outcome"]) for r in per_service} == {(live.service, "finished")}
    p99 = wait_for(lambda: live.query(f'service:worker_end_to_end_seconds:p99_5m{{service="{live.service}"}}'), 30,
                   "the p99 end-to-end latency")
    histogram = [line for line in httpx.get(f"http://127.0.0.1:{live.worker_port}/metrics", timeout=10).text
                 .splitlines() if line.startswith("worker_end_to_end_seconds")]
    assert 0 < float(p99[0]["value"][1]) < 30, "\n".join(histogram)
    published = live.query(f'rabbitmq_detailed_queue_messages{{queue="{live.service}"}}')
    assert published and float(published[0]["value"][1]) == 0, "the queue was drained"
    # queue_manager's gauge shows the version the service is assigned (read from the store every 15 s).
    assigned = wait_for(lambda: live.query(f'queue_manager_service_model_version{{service="{live.service}"}}'), 30,
                        "the assigned model version")
    assert [(r["metric"]["role"], r["value"][1]) for r in assigned] == [("champion", "1")]


def _exported(text: str) -> set[str]:
    """Names in a /metrics text: its families (# TYPE, also those with no sample yet) and its samples."""
    names = set(re.findall(r"^# TYPE (\S+)", text, flags=re.M))
    names |= set(re.findall(r"^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]", text, flags=re.M))
    return names


def test_dashboards_and_rules_name_only_exported_metrics(live: Live) -> None:
    s = live.stack
    texts = [httpx.get(f"{url}/metrics", timeout=10).text
             for url in (s.qm_url, s.ml_url, s.monitoring_url, s.retraining_url,
                         f"http://127.0.0.1:{live.worker_port}")]
    broker = f"http://127.0.0.1:{live.broker.prometheus_port}"
    texts.append(httpx.get(f"{broker}/metrics", timeout=10).text)
    queues = next(j for j in live.config["scrape_configs"] if j["job_name"] == "rabbitmq_queues")
    texts.append(httpx.get(f"{broker}{queues['metrics_path']}", params=queues["params"], timeout=10).text)
    exported = set().union(*map(_exported, texts))
    # The store-read gauges are there, empty or not, and the worker says which service it serves.
    for name in ("monitoring_open_episodes", "monitoring_drift_share", "retraining_runs",
                 "retraining_last_failed_timestamp_seconds", "queue_manager_service_model_version", "worker_info"):
        assert name in exported, name
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    recorded = {rule["record"] for rule in rules if "record" in rule}
    known = exported | recorded | {"up"}  # `up` is Prometheus's own, per target

    for name in DASHBOARDS:
        dashboard = json.loads((DASHBOARD_FILES / f"{name}.json").read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                unknown = metric_names(target["expr"]) - known
                assert not unknown, f"{name} / {panel['title']}: {sorted(unknown)} not exported"
    for rule in rules:
        unknown = metric_names(rule["expr"]) - known
        assert not unknown, f"rule {rule.get('record') or rule.get('alert')}: {sorted(unknown)} not exported"
