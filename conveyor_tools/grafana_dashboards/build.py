"""The three dashboards. Per-service worker figures come from the recording rules (deploy/prometheus/rules),
which join worker series on worker_info{service}."""

from __future__ import annotations

import json
from collections.abc import Callable

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from conveyor_tools.grafana_dashboards.panels import figure, series

RATE = "$__rate_interval"
WORKER_SERVICE = "* on (job, instance) group_left (service) worker_info"


def _dashboard(uid: str, title: str, description: str) -> Dashboard:
    return (Dashboard(title).uid(uid).description(description).tags(["conveyor", "generated"])
            .refresh("30s").time("now-1h", "now").timezone("browser"))


def pipeline() -> Dashboard:
    return (
        _dashboard("conveyor-pipeline", "Conveyor / Pipeline",
                   "Records through the queues and workers: rates, depth, batches, latency, dead letters, retries.")
        .with_panel(figure("Workers up", "Worker replicas answering /metrics (found by DNS).", "none",
                           ('count(up{job="worker"} == 1)', "workers")))
        .with_panel(figure("Records/s", "Records stored per second, all services.", "reqps",
                           ('sum(service:worker_messages:rate1m{outcome="finished"})', "records/s")))
        .with_panel(figure("Messages ready", "Messages waiting in every queue.", "none",
                           ("sum(rabbitmq_detailed_queue_messages_ready)", "ready")))
        .with_panel(figure("Dead letters (5 min)", "Messages dead-lettered by workers in the last 5 minutes.",
                           "none", ("sum(service:worker_dead_lettered:increase5m)", "dead letters")))
        .with_row(Row("Throughput"))
        .with_panel(series("Records/s per service", "Messages handled per second by each service's workers, by "
                           "outcome.", "reqps",
                           ("service:worker_messages:rate1m", "{{service}} {{outcome}}")))
        .with_panel(series("Broker rates", "RabbitMQ: published, delivered and acknowledged per second.", "reqps",
                           (f"rate(rabbitmq_global_messages_received_total[{RATE}])", "published"),
                           (f"rate(rabbitmq_global_messages_delivered_total[{RATE}])", "delivered"),
                           (f"rate(rabbitmq_global_messages_acknowledged_total[{RATE}])", "acknowledged")))
        .with_panel(series("Queue depth", "Ready and unacknowledged messages per queue.", "none",
                           ("rabbitmq_detailed_queue_messages_ready", "{{queue}} ready"),
                           ("rabbitmq_detailed_queue_messages_unacked", "{{queue}} unacked")))
        .with_panel(series("Consumers per queue", "Workers consuming each queue.", "none",
                           ("rabbitmq_detailed_queue_consumers", "{{queue}}")))
        .with_row(Row("Batches and latency"))
        .with_panel(series("Batch size", "Messages per batch, median and p95 over all workers.", "none",
                           (f"histogram_quantile(0.5, sum by (le) (rate(worker_batch_size_bucket[{RATE}])))", "p50"),
                           (f"histogram_quantile(0.95, sum by (le) (rate(worker_batch_size_bucket[{RATE}])))",
                            "p95")))
        .with_panel(series("Batch and predict latency", "Whole batch and model predict time, p50 and p99.", "s",
                           (f"histogram_quantile(0.5, sum by (le) (rate(worker_batch_seconds_bucket[{RATE}])))",
                            "batch p50"),
                           (f"histogram_quantile(0.99, sum by (le) (rate(worker_batch_seconds_bucket[{RATE}])))",
                            "batch p99"),
                           (f"histogram_quantile(0.99, sum by (le) (rate(worker_predict_seconds_bucket[{RATE}])))",
                            "predict p99")))
        .with_panel(series("End-to-end latency per service", "Publish to stored, p50 / p95 / p99 over 5 minutes "
                           "(the EndToEndLatencyHigh alert fires over 5 s at p99).", "s",
                           ("service:worker_end_to_end_seconds:p50_5m", "{{service}} p50"),
                           ("service:worker_end_to_end_seconds:p95_5m", "{{service}} p95"),
                           ("service:worker_end_to_end_seconds:p99_5m", "{{service}} p99"), width=24))
        .with_row(Row("Faults"))
        .with_panel(series("Dead letters", "Dead-lettered in 5 minutes per service, and what the dead-letter "
                           "queues hold.", "none",
                           ("service:worker_dead_lettered:increase5m", "{{service}} dead-lettered"),
                           ('rabbitmq_detailed_queue_messages{queue=~".*\\\\.dead"}', "{{queue}} holds")))
        .with_panel(series("Retries", "Retries of a step after a passing fault, per second.", "reqps",
                           ("service:worker_retries:rate5m", "{{service}} {{step}}")))
    )


def models() -> Dashboard:
    return (
        _dashboard("conveyor-models", "Conveyor / Models",
                   "Drift, realized and estimated performance, model versions and retraining runs per service.")
        .with_panel(figure("Open drift episodes", "Services with a drift episode open.", "none",
                           ('sum(monitoring_open_episodes{kind="drift_detected"})', "drift")))
        .with_panel(figure("Open performance episodes", "Services with a performance episode open.", "none",
                           ('sum(monitoring_open_episodes{kind="performance_degraded"})', "performance")))
        .with_panel(figure("Retraining runs running", "Runs an executor works on now.", "none",
                           ('sum(retraining_runs{status="running"})', "running")))
        .with_panel(figure("Retraining runs failed", "Failed runs kept in retraining_runs.", "none",
                           ('sum(retraining_runs{status="failed"})', "failed")))
        .with_row(Row("Drift and performance"))
        .with_panel(series("Drift share per service", "Share of features over their calibrated thresholds, latest "
                           "check.", "percentunit", ("monitoring_drift_share", "{{service}}")))
        .with_panel(series("Open episodes", "Open alert episodes by service and kind.", "none",
                           ("monitoring_open_episodes", "{{service}} {{kind}}")))
        .with_panel(series("Realized performance", "The task's metrics on labelled rows, latest check.", "none",
                           ("monitoring_realized_performance", "{{service}} {{metric}}")))
        .with_panel(series("Estimated performance", "The task's metrics estimated before labels (DLE, CBPE).",
                           "none", ("monitoring_estimated_performance", "{{service}} {{metric}}")))
        .with_row(Row("Model versions"))
        .with_panel(series("Assigned model version per service", "What queue_manager assigns, by role.", "none",
                           ("queue_manager_service_model_version", "{{service}} {{role}} {{model}}")))
        .with_panel(series("Model version in the workers", "What each service's workers have loaded (several "
                           "lines while a swap is in progress).", "none",
                           (f"max by (service, model) (worker_model_version {WORKER_SERVICE})",
                            "{{service}} {{model}}"),
                           (f"max by (service, model) (worker_challenger_version {WORKER_SERVICE})",
                            "{{service}} challenger {{model}}")))
        .with_panel(series("Model load failures", "Failed loads of an assigned model per second, by role.", "reqps",
                           (f"sum by (role) (rate(worker_model_load_failures_total[{RATE}]))", "{{role}}")))
        .with_panel(series("Checked model version", "Version the latest monitoring check looked at.", "none",
                           ("monitoring_checked_model_version", "{{service}} {{model}}")))
        .with_row(Row("Retraining"))
        .with_panel(series("Retraining runs by status", "Runs in retraining_runs per dataset and status.", "none",
                           ("retraining_runs", "{{dataset}} {{status}}"), width=24))
    )


def stores() -> Dashboard:
    ingest = 'route=~".*/(rows|csv|labels|insert_data/)", method="POST"'
    return (
        _dashboard("conveyor-stores", "Conveyor / Stores and APIs",
                   "Ingest into ml_data_api (the stores behind it) and every API's request rate and latency.")
        .with_panel(series("Ingest requests/s", "Writes of rows, CSV and labels into ml_data_api, by route.",
                           "reqps", (f"sum by (route) (rate(http_requests_total{{job=\"ml_data_api\", {ingest}}}"
                                     f"[{RATE}]))", "{{route}}")))
        .with_panel(series("Records stored/s", "Records the workers stored per second (through ml_data_api).",
                           "reqps", ('sum(service:worker_messages:rate1m{outcome="finished"})', "records/s")))
        .with_panel(series("Ingest latency p99", "ml_data_api write requests, p99.", "s",
                           (f"histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket"
                            f"{{job=\"ml_data_api\", {ingest}}}[{RATE}])))", "{{route}}")))
        .with_panel(series("API latency p99", "Each API's p99 over 5 minutes, all routes.", "s",
                           ("job:http_request_duration_seconds:p99_5m", "{{job}}")))
        .with_panel(series("API requests/s", "Requests per second by API and route.", "reqps",
                           ("sum by (job) (job_route:http_requests:rate1m)", "{{job}}")))
        .with_panel(series("API errors/s", "5xx answers per second by API (4xx are the callers' mistakes).",
                           "reqps", (f'sum by (job) (rate(http_requests_total{{status=~"5.."}}[{RATE}]))', "{{job}}")))
    )


DASHBOARDS: dict[str, Callable[[], Dashboard]] = {"pipeline": pipeline, "models": models, "stores": stores}


def render(name: str) -> str:
    """The dashboard's JSON as committed in deploy/grafana/dashboards/<name>.json."""
    return json.dumps(DASHBOARDS[name]().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
