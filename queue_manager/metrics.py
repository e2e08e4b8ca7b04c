"""queue_manager's gauges, read from the services collection: the model version each service is assigned.

Workers report the model they load (worker_model_version), without their service; this is the assignment they
follow, per service and role, over time in Prometheus (conveyor.api.store_metrics).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from conveyor.api.store_metrics import READ_INTERVAL_SECONDS, Family, Reading, StoreGauges
from queue_manager.models import ServiceDoc

ASSIGNED = Family("queue_manager_service_model_version",
                  "Model version assigned to a service, by role (champion, challenger)",
                  ("service", "dataset", "model", "role"))


def read_assignments() -> Reading:
    samples: list[tuple[tuple[str, ...], float]] = []
    for doc in ServiceDoc.objects.only("name", "dataset", "algorithm", "challenger"):
        for role, ref in (("champion", doc.algorithm), ("challenger", doc.challenger)):
            if ref and ref.get("name") and ref.get("version") is not None:
                samples.append(((doc.name, doc.dataset, str(ref["name"]), role), float(ref["version"])))
    return {ASSIGNED.name: samples}


def queue_manager_gauges(registry: CollectorRegistry, interval: float = READ_INTERVAL_SECONDS) -> StoreGauges:
    return StoreGauges("queue_manager", (ASSIGNED,), read_assignments, registry, interval)
