"""Prometheus metrics of a worker, served on a port of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class WorkerMetrics:
    def __init__(self, service: str = "", worker_id: str = "") -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # Which service this replica serves: its other series carry no service label, so Prometheus joins on it
        # (`* on (job, instance) group_left (service) worker_info`) for per-service rates.
        self.info = Gauge("worker_info", "1 for the service this worker serves", ["service", "worker"], registry=r)
        if service:
            self.info.labels(service, worker_id).set(1)
        self.messages = Counter("worker_messages_total", "Messages handled, by outcome", ["outcome"], registry=r)
        # Shown at 0 from the start: a series first scraped after its first batch has no increase to take a rate()
        # of (a burst handled between two scrapes was invisible to the throughput rules).
        for outcome in ("finished", "failed", "duplicate"):
            self.messages.labels(outcome)
        self.dead_lettered = Counter("worker_dead_lettered_total", "Messages sent to the dead-letter queue",
                                     registry=r)
        self.retries = Counter("worker_retries_total", "Retries of a step after a passing fault", ["step"],
                               registry=r)
        self.batch_size = Histogram("worker_batch_size", "Messages per batch", registry=r,
                                    buckets=(1, 5, 10, 25, 50, 100, 200, 500, 1000))
        self.predict_seconds = Histogram("worker_predict_seconds", "Model predict latency per batch",
                                         registry=r, buckets=LATENCY_BUCKETS)
        self.batch_seconds = Histogram("worker_batch_seconds", "Whole batch latency", registry=r,
                                       buckets=LATENCY_BUCKETS)
        self.end_to_end = Histogram("worker_end_to_end_seconds", "Publish to stored latency", registry=r,
                                    buckets=LATENCY_BUCKETS)
        self.model_version = Gauge("worker_model_version", "Model version in use", ["model"], registry=r)
        self.challenger_version = Gauge("worker_challenger_version", "Challenger version in use (0: none loaded)",
                                        ["model"], registry=r)
        self.challenger_failures = Counter(
            "worker_challenger_failures_total",
            "Challenger failures, by stage (load | predict): its records went to the champion, or got no shadow "
            "prediction", ["stage"], registry=r)
        for stage in ("load", "predict"):
            self.challenger_failures.labels(stage)  # shown at 0 before the first failure
        self.model_load_failures = Counter(
            "worker_model_load_failures_total",
            "Failed loads of an assigned model, by role (champion | challenger): the worker kept the model it had, "
            "or, with no champion at all, left the messages in the queue", ["role"], registry=r)
        for role in ("champion", "challenger"):
            self.model_load_failures.labels(role)
        self.predictions = Counter("worker_predictions_total",
                                   "Records predicted, by role (champion | challenger | shadow)", ["role"],
                                   registry=r)
        self.challenger_predict_seconds = Histogram("worker_challenger_predict_seconds",
                                                    "Challenger predict latency per batch", registry=r,
                                                    buckets=LATENCY_BUCKETS)

    def serve(self, port: int) -> int:
        """Start the /metrics server; answer the port (a free one when 0 is asked)."""
        server, _ = start_http_server(port, addr="0.0.0.0", registry=self.registry)
        return int(server.server_port)
