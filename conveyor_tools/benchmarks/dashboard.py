"""GET /queue_manager/jobs/stats and each dashboard callback, p50/p95, against a jobs log of N jobs.

Starts a throwaway stack (queue_manager, ml_data_api, monitoring_api; no retraining, no scheduled checks), fills
its jobs log with N terminal jobs spread over services, workers and the last --minutes (the dashboards' window:
the hardest case), written in bulk straight into its MongoDB-compatible store, with their per-minute aggregates
through queue_manager.job_minutes.record (what queue_manager does as it writes jobs). Then it times, --repeats
times each:

- `stats`: GET /queue_manager/jobs/stats over HTTP (the main dashboard's 60 min, all services);
- the dashboard callbacks, called in this process through the admin's own platform client against the stack:
  the main dashboard's jobs panel (all services, and one service), its data panel (predictions, rows per table),
  the pipeline map, and the monitoring dashboard's choice of a first service;
- the baseline, the old way of the main dashboard in the same run: its refresh asked the stats and then
  GET /queue_manager/jobs?status=finished&limit=1000 (the list it drew latency and workers from).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
from bson import ObjectId

from conveyor_tools.stack import Stack, StackConfig

WINDOW_MINUTES = 60  # the main dashboard's window
DATASET = "bench_dash"
CHUNK = 10_000  # jobs per bulk insert and per job_minutes.record call
FEATURES = [f"T_data_{i}_{j}" for i in range(1, 6) for j in range(1, 4)] + ["H_data", "AH_data"]


def _positive(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", type=_positive, default=100_000, help="jobs in the log (e.g. 1000000)")
    p.add_argument("--services", type=_positive, default=4)
    p.add_argument("--workers", type=_positive, default=4, help="workers per service")
    p.add_argument("--minutes", type=_positive, default=WINDOW_MINUTES,
                   help="the jobs' updated_at spread over the last M minutes (default: the dashboards' window)")
    p.add_argument("--failed-share", type=float, default=0.01)
    p.add_argument("--repeats", type=_positive, default=20, help="timed calls of each item")
    p.add_argument("--baseline-repeats", type=_positive, default=5,
                   help="timed calls of the old way (one lists 1,000 jobs: ~11 s at 100,000 jobs here)")
    p.add_argument("--no-payload", action="store_true",
                   help="jobs without their 17-feature payload: a smaller store for --jobs 1000000 (the stats "
                        "read none of it; the old way's list gets cheaper, so its baseline is, if anything, low)")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--json", default=None, help="also write the figures to this file")


def service_names(services: int) -> list[str]:
    return [f"bench_dash_{i}" for i in range(services)]


def spread_jobs(n: int, services: int, workers: int, minutes: int, now: datetime, failed_share: float = 0.01,
                seed: int = 15, chunk: int = CHUNK, payload: bool = True) -> Iterator[list[dict[str, Any]]]:
    """N terminal job documents as queue_manager stores them, in chunks: services in turn, each job by one of its
    service's workers, updated at a uniform time within the last `minutes`, latency lognormal around 50 ms."""
    rng = np.random.default_rng(seed)
    names = service_names(services)
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        ago = rng.uniform(0, minutes * 60, size)
        elapsed = rng.lognormal(np.log(0.05), 0.5, size)
        failed = rng.random(size) < failed_share
        worker = rng.integers(0, workers, size)
        values = rng.normal(200, 20, (size, len(FEATURES))).round(3)
        docs = []
        for k in range(size):
            i = start + k
            service = names[i % services]
            updated = now - timedelta(seconds=float(ago[k]))
            created = updated - timedelta(seconds=float(elapsed[k]))
            status = "failed" if failed[k] else "finished"
            docs.append({
                "_id": ObjectId(), "record_id": f"r{i}", "service": service, "algorithm_name": f"{DATASET}_model",
                "algorithm_version": 1, "algorithm_role": "champion",
                "payload": {"features": dict(zip(FEATURES, values[k].tolist(), strict=True))} if payload else None,
                "status": status, "result": None if failed[k] else float(values[k][0]),
                "error": "missing feature H_data" if failed[k] else None,
                "metadata": {"start": created, "end": updated, "elapsed": None if failed[k] else float(elapsed[k]),
                             "routing_key": service, "worker_id": f"{service}-w{worker[k]}", "extra": {}},
                "history": [{"status": "received", "at": created},
                            *([{"status": "failed", "at": updated}] if failed[k] else
                              [{"status": s, "at": updated} for s in ("predicted", "stored", "finished")])],
                "created_at": created, "updated_at": updated,
            })
        yield docs


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50 and p95 in ms (p95 interpolated between the calls' durations)."""
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "calls": len(seconds)}


def timed(fn: Callable[[], Any], repeats: int, warm: bool = True) -> dict[str, float]:
    if warm:
        fn()  # connections, imports, the store's caches
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        durations.append(time.perf_counter() - started)
    return percentiles(durations)


async def _register(stack: Stack, services: int) -> None:
    """A dataset, one model and the services the jobs belong to: the dashboards list them and ask ml_data_api
    for their predictions and rows (which stay empty: only the jobs log is filled)."""
    from sklearn.linear_model import LinearRegression

    from conveyor.clients import QueueManagerClient
    from conveyor.schemas.algorithms import AlgorithmRef
    from conveyor.schemas.services import ServiceCreate
    from conveyor.training import dump_model
    from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_FEATURES, demo_splits

    training, _ = demo_splits(rows=500)
    model = LinearRegression().fit(training[DEMO_FEATURES], training["quality"])
    async with QueueManagerClient(stack.qm_url, stack.config.api_token) as qm:
        await qm.ensure_dataset(DEMO_DATASET.model_copy(update={"name": DATASET}))
        uploaded = await qm.upload_algorithm(name=f"{DATASET}_model", dataset=DATASET, model=dump_model(model))
        for name in service_names(services):
            await qm.create_service(ServiceCreate(name=name, dataset=DATASET, queue=name,
                                                  algorithm=AlgorithmRef(name=uploaded.name,
                                                                         version=uploaded.version)))


def _fill(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """The raw jobs (insert_many) and their aggregates (job_minutes.record), chunk by chunk."""
    import mongoengine

    from queue_manager import job_minutes, jobs_store

    mongoengine.disconnect()
    mongoengine.connect(host=stack.mongodb_uri, tz_aware=True, uuidRepresentation="standard")
    now = datetime.now(UTC)
    insert = aggregate = 0.0
    for docs in spread_jobs(args.jobs, args.services, args.workers, args.minutes, now, args.failed_share,
                            args.seed, payload=not args.no_payload):
        started = time.perf_counter()
        jobs_store.collection().insert_many(docs, ordered=False)
        insert += time.perf_counter() - started
        started = time.perf_counter()
        job_minutes.record(docs)
        aggregate += time.perf_counter() - started
    return {"jobs": args.jobs, "insert_seconds": round(insert, 1), "aggregate_seconds": round(aggregate, 1),
            "jobs_per_second": round(args.jobs / max(insert + aggregate, 1e-9)),
            "aggregate_documents": job_minutes.collection().count_documents({})}


def _admin_callbacks(stack: Stack) -> dict[str, Callable[[], Any]]:
    """The dashboards' callbacks, as the admin runs them, with its platform client pointed at the stack."""
    os.environ.update(stack.env())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_admin.settings")
    import django

    django.setup()
    from django_admin.dashboards import data, main, pipeline

    one = service_names(1)[0]
    return {
        "main: jobs panel (all services)": lambda: main.jobs_panel(1, 0, None),
        f"main: jobs panel ({one})": lambda: main.jobs_panel(1, 0, one),
        "main: data panel (predictions, rows per table)": lambda: main.data_panel(1, 0, None),
        "pipeline map": lambda: pipeline.update(1, 0),
        "monitoring: first streaming service": lambda: data.streaming_service(data.services()),
    }


def measure(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    asyncio.run(_register(stack, args.services))
    started = time.perf_counter()
    fill = _fill(stack, args)
    fill["seconds"] = round(time.perf_counter() - started, 1)
    headers = {"Authorization": f"Bearer {stack.config.api_read_token}"}
    items: dict[str, dict[str, float]] = {}
    with httpx.Client(base_url=stack.qm_url, headers=headers, timeout=600) as http:
        def get(path: str, **params: Any) -> Any:
            answer = http.get(path, params=params)
            answer.raise_for_status()
            return answer.json()

        stats = get("/queue_manager/jobs/stats", window_minutes=WINDOW_MINUTES)
        items["stats (GET /queue_manager/jobs/stats, 60 min)"] = timed(
            lambda: get("/queue_manager/jobs/stats", window_minutes=WINDOW_MINUTES), args.repeats)
        for name, callback in _admin_callbacks(stack).items():
            items[name] = timed(callback, args.repeats)
        # The old refresh: the stats, then 1,000 finished jobs listed (no warm-up call: it costs as much as a
        # timed one, and a refresh of the old dashboard met a cold store as well).
        baseline = {"old refresh: stats + list 1,000 finished jobs": timed(
            lambda: (get("/queue_manager/jobs/stats", window_minutes=WINDOW_MINUTES),
                     get("/queue_manager/jobs", status="finished", limit=1000)), args.baseline_repeats, warm=False)}
    new = items["main: jobs panel (all services)"]["p50_ms"]
    old = baseline["old refresh: stats + list 1,000 finished jobs"]["p50_ms"]
    main_refresh = new + items["main: data panel (predictions, rows per table)"]["p50_ms"]
    return {
        "fill": {**fill, "payload": not args.no_payload},
        "stats_check": {"jobs_in_window": sum(stats["counts"].values()), "workers": len(stats["workers"]),
                        "minutes": len(stats["throughput_per_minute"]),
                        "partial_minutes": sum(p.get("partial", False) for p in stats["throughput_per_minute"])},
        "items": items,
        "baseline": baseline,
        "main_refresh_p50_ms": round(main_refresh, 1),
        "ratio_old_refresh_to_jobs_panel_p50": round(old / new, 1) if new else None,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = StackConfig.throwaway()
    config.retraining = False
    config.extra_env = {"MONITORING_CHECK_INTERVAL_SECONDS": "0"}
    with Stack(config) as stack:
        return measure(stack, args)


def render(figures: dict[str, Any]) -> str:
    fill = figures["fill"]
    lines = [f"jobs log: {fill['jobs']:,} jobs {'with' if fill['payload'] else 'without'} payloads filled in "
             f"{fill['seconds']} s (insert {fill['insert_seconds']} s, aggregates {fill['aggregate_seconds']} s, "
             f"{fill['aggregate_documents']:,} aggregate documents)",
             f"stats answer: {figures['stats_check']}", "", f"{'item':<55} {'p50 ms':>9} {'p95 ms':>9}"]
    for title, rows in (("", figures["items"]), ("baseline, the old way:", figures["baseline"])):
        if title:
            lines.append(title)
        lines += [f"{name:<55} {v['p50_ms']:>9} {v['p95_ms']:>9}" for name, v in rows.items()]
    lines += ["", f"main dashboard refresh (jobs panel + data panel), p50: {figures['main_refresh_p50_ms']} ms",
              f"old refresh / new jobs panel, p50: {figures['ratio_old_refresh_to_jobs_panel_p50']}x"]
    return "\n".join(lines)

