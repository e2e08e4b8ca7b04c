"""GET /queue_manager/jobs/stats and each dashboard callback, p50/p95, against a jobs log of N jobs.

Starts a throwaway stack (queue_manager, ml_data_api, monitoring_api, retraining_api; no scheduled checks), fills
its jobs log with N terminal jobs spread over services, workers and the last --minutes (the main dashboard's window
by default: the hardest case for it), oldest first as workers write them, in bulk: the raw job documents with
insert_many straight into its MongoDB-compatible store, and their aggregates through queue_manager.job_minutes.record,
the code queue_manager's write path runs (per-minute documents and their 10/60/1440-minute roll-ups), a chunk of
10,000 jobs a call. Then it times, --repeats times each:

- `stats`: GET /queue_manager/jobs/stats over HTTP, over the main dashboard's 60 minutes and over each --long-window
  (all services), and, as the baseline of a long window, the same window read the way before roll-ups (every
  minute document of it, summarized in this process: its store read alone is already the cost);
- every refreshing callback of the dashboards, called in this process through the admin's own platform client
  against the stack: the main dashboard's jobs panel (all services, and one service), its data panel and its
  service list, and its whole refresh (the three one after another, what one tick of each asks); the pipeline
  map; the monitoring dashboard's service list, checks, challenger and episodes; the retraining dashboard's
  models, runs and chosen run;
- the baseline of the main dashboard, its old way in the same run: its refresh asked the stats and then
  GET /queue_manager/jobs?status=finished&limit=1000 (the list it drew latency and workers from).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
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
PROGRESS_EVERY = 100_000
log = logging.getLogger(__name__)
MAIN_REFRESH = "main: whole refresh (service list + jobs panel + data panel)"
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
    p.add_argument("--long-window", type=_positive, action="append", default=None,
                   help="a longer stats window to time as well, in minutes (repeatable; default 1440)")
    p.add_argument("--failed-share", type=float, default=0.01)
    p.add_argument("--repeats", type=_positive, default=20, help="timed calls of each item")
    p.add_argument("--baseline-repeats", type=_positive, default=5,
                   help="timed calls of each old way (the old refresh lists 1,000 jobs: ~11 s at 100,000 jobs "
                        "here, minutes at 1,000,000)")
    p.add_argument("--skip-old-refresh", action="store_true",
                   help="leave out the old refresh's baseline (its list of 1,000 jobs), keep the long windows'")
    p.add_argument("--no-payload", action="store_true",
                   help="jobs without their 17-feature payload: a smaller store for --jobs 1000000 (the stats "
                        "read none of it; the old way's list gets cheaper, so its baseline is, if anything, low)")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--json", default=None, help="also write the figures to this file")


def service_names(services: int) -> list[str]:
    return [f"bench_dash_{i}" for i in range(services)]


def spread_jobs(n: int, services: int, workers: int, minutes: int, now: datetime, failed_share: float = 0.01,
                seed: int = 15, chunk: int = CHUNK, payload: bool = True,
                clock: Callable[[], datetime] | None = None) -> Iterator[list[dict[str, Any]]]:
    """N terminal job documents as queue_manager stores them, in chunks, oldest first: services in turn, each job
    by one of its service's workers, updated at a uniform time within the last `minutes`, latency lognormal around
    50 ms. Chunk k holds the k-th slice of the time range, so it falls in a minute or two, as a worker's batches do:
    its aggregates are a few upserts, not one per (service, worker, minute) of the whole range.

    With a `clock`, each chunk's times are taken back from the clock's time when the chunk is made instead of from
    `now`: a fill that takes many minutes still ends with jobs of the last minute, so the windows read after it
    are full (the range then stretches by the fill's duration)."""
    rng = np.random.default_rng(seed)
    names = service_names(services)
    span = minutes * 60.0
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        ago = span - rng.uniform(span * start / n, span * (start + size) / n, size)
        elapsed = rng.lognormal(np.log(0.05), 0.5, size)
        failed = rng.random(size) < failed_share
        worker = rng.integers(0, workers, size)
        values = rng.normal(200, 20, (size, len(FEATURES))).round(3)
        at = clock() if clock else now
        docs = []
        for k in range(size):
            i = start + k
            service = names[i % services]
            updated = at - timedelta(seconds=float(ago[k]))
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
    """The raw jobs (insert_many) and their aggregates (job_minutes.record, queue_manager's own), chunk by chunk.

    The stack's queue_manager started on an empty store, so its roll-ups are marked complete from the start
    (job_stats.mark_rollups): the fill writes them for every job."""
    import mongoengine

    from queue_manager import job_minutes, jobs_store

    mongoengine.disconnect()
    mongoengine.connect(host=stack.mongodb_uri, tz_aware=True, uuidRepresentation="standard")
    now = datetime.now(UTC)
    insert = aggregate = 0.0
    done = 0
    for docs in spread_jobs(args.jobs, args.services, args.workers, args.minutes, now, args.failed_share,
                            args.seed, payload=not args.no_payload, clock=lambda: datetime.now(UTC)):
        started = time.perf_counter()
        jobs_store.collection().insert_many(docs, ordered=False)
        insert += time.perf_counter() - started
        started = time.perf_counter()
        job_minutes.record(docs)
        aggregate += time.perf_counter() - started
        done += len(docs)
        if done % PROGRESS_EVERY < len(docs):  # a million jobs take minutes: say how far it is
            log.info("filled %d of %d jobs (%.0f jobs/s)", done, args.jobs, done / max(insert + aggregate, 1e-9))
    return {"jobs": args.jobs, "insert_seconds": round(insert, 1), "aggregate_seconds": round(aggregate, 1),
            "jobs_per_second": round(args.jobs / max(insert + aggregate, 1e-9)),
            "aggregate_documents": job_minutes.collection().count_documents({}),
            "rollup_documents": job_minutes.rollups().count_documents({})}


def old_long_window(window_minutes: int) -> Callable[[], Any]:
    """A long window read as before the roll-ups: every minute document of it, summarized (in this process)."""
    from queue_manager import job_minutes, job_stats

    def read() -> Any:
        now = datetime.now(UTC)
        first = job_stats.window_start(now, window_minutes)
        docs = job_minutes.collection().find({"minute": {"$gte": first, "$lte": now}}, {"_id": 0})
        return job_stats.summarize(docs, job_minutes.minute_of(now))

    return read


def _admin_callbacks(stack: Stack) -> dict[str, Callable[[], Any]]:
    """The dashboards' refreshing callbacks, as the admin runs them on a tick of their paced interval, with its
    platform client pointed at the stack."""
    os.environ.update(stack.env())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_admin.settings")
    import django

    django.setup()
    from django_admin.dashboards import main, monitoring, pipeline, retraining

    one = service_names(1)[0]
    return {
        "main: jobs panel (all services)": lambda: main.jobs_panel(1, 0, None),
        f"main: jobs panel ({one})": lambda: main.jobs_panel(1, 0, one),
        "main: data panel (predictions, rows per table)": lambda: main.data_panel(1, 0, None),
        "main: service list": lambda: main.services(1, 0),
        MAIN_REFRESH: lambda: (main.services(1, 0), main.jobs_panel(1, 0, None), main.data_panel(1, 0, None)),
        "pipeline map": lambda: pipeline.update(1, 0),
        "monitoring: service list (first streaming service)": lambda: monitoring.services(1, 0, None),
        "monitoring: checks": lambda: monitoring.checks_panel(1, 0, one),
        "monitoring: challenger": lambda: monitoring.challenger_panel(1, 0, one),
        "monitoring: episodes": lambda: monitoring.episodes_panel(1, 0, one, 0),
        "retraining: models": lambda: retraining.models(1, 0, None),
        "retraining: runs": lambda: retraining.refresh_runs(1, None, False),
        "retraining: chosen run": lambda: retraining.run_panel(1, 0, None, None, None),
    }


def measure(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    asyncio.run(_register(stack, args.services))
    started = time.perf_counter()
    fill = _fill(stack, args)
    fill["seconds"] = round(time.perf_counter() - started, 1)
    long_windows = args.long_window or [1440]
    headers = {"Authorization": f"Bearer {stack.config.api_read_token}"}
    items: dict[str, dict[str, float]] = {}
    with httpx.Client(base_url=stack.qm_url, headers=headers, timeout=600) as http:
        def get(path: str, **params: Any) -> Any:
            answer = http.get(path, params=params)
            answer.raise_for_status()
            return answer.json()

        checks = {w: get("/queue_manager/jobs/stats", window_minutes=w) for w in (WINDOW_MINUTES, *long_windows)}
        for window in (WINDOW_MINUTES, *long_windows):
            items[f"stats (GET /queue_manager/jobs/stats, {window} min)"] = timed(
                functools.partial(get, "/queue_manager/jobs/stats", window_minutes=window), args.repeats)
        for name, callback in _admin_callbacks(stack).items():
            items[name] = timed(callback, args.repeats)
        # The old refresh: the stats, then 1,000 finished jobs listed (no warm-up call: it costs as much as a
        # timed one, and a refresh of the old dashboard met a cold store as well).
        baseline: dict[str, dict[str, float]] = {}
        if not args.skip_old_refresh:
            baseline["old refresh: stats + list 1,000 finished jobs"] = timed(
                lambda: (get("/queue_manager/jobs/stats", window_minutes=WINDOW_MINUTES),
                         get("/queue_manager/jobs", status="finished", limit=1000)), args.baseline_repeats,
                warm=False)
    for window in long_windows:
        baseline[f"old long window: every minute of {window} min, summarized"] = timed(
            old_long_window(window), args.baseline_repeats)
    ratios: dict[str, float | None] = {}
    if not args.skip_old_refresh:
        new = items["main: jobs panel (all services)"]["p50_ms"]
        old = baseline["old refresh: stats + list 1,000 finished jobs"]["p50_ms"]
        ratios["old refresh / jobs panel, p50"] = round(old / new, 1) if new else None
    for window in long_windows:
        fast = items[f"stats (GET /queue_manager/jobs/stats, {window} min)"]["p50_ms"]
        slow = baseline[f"old long window: every minute of {window} min, summarized"]["p50_ms"]
        ratios[f"old long window / stats, {window} min, p50"] = round(slow / fast, 1) if fast else None
    return {
        "fill": {**fill, "payload": not args.no_payload, "minutes": args.minutes},
        "stats_check": {w: {"jobs_in_window": sum(a["counts"].values()), "workers": len(a["workers"]),
                            "step_minutes": a.get("step_minutes", 1), "points": len(a["throughput_per_minute"]),
                            "partial_points": sum(p.get("partial", False) for p in a["throughput_per_minute"])}
                        for w, a in checks.items()},
        "items": items,
        "baseline": baseline,
        "ratios": ratios,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = StackConfig.throwaway()
    config.extra_env = {"MONITORING_CHECK_INTERVAL_SECONDS": "0"}
    with Stack(config) as stack:
        return measure(stack, args)


def render(figures: dict[str, Any]) -> str:
    fill = figures["fill"]
    lines = [f"jobs log: {fill['jobs']:,} jobs {'with' if fill['payload'] else 'without'} payloads over the last "
             f"{fill['minutes']} min, filled in {fill['seconds']} s (insert {fill['insert_seconds']} s, aggregates "
             f"{fill['aggregate_seconds']} s: {fill['aggregate_documents']:,} minute and "
             f"{fill['rollup_documents']:,} roll-up documents)"]
    lines += [f"stats answer, {w} min: {check}" for w, check in figures["stats_check"].items()]
    lines += ["", f"{'item':<62} {'p50 ms':>9} {'p95 ms':>9}"]
    for title, rows in (("", figures["items"]), ("baseline, the old way:", figures["baseline"])):
        if title:
            lines.append(title)
        lines += [f"{name:<62} {v['p50_ms']:>9} {v['p95_ms']:>9}" for name, v in rows.items()]
    lines += [""] + [f"{name}: {value}x" for name, value in figures["ratios"].items()]
    lines.append(f"load average (1, 5, 15 min) at the end: {figures['load_average']}")
    return "\n".join(lines)
