"""Records per second and publish-to-stored latency of the whole pipeline, against the bare broker.

Starts a throwaway stack and W workers, publishes N records (as fast as the broker confirms,
or at --rate), waits until all N are stored with finished jobs, and compares with
publishing, consuming and acknowledging N messages that do no work. A run at the maximum rate is
followed by one at half the records/s it reached, whose p50/p95/p99 publish-to-stored latency is
printed as `latency_ms_at_half_rate` (--skip-half-rate leaves it out).

With --challenger split|shadow the same stack also measures a run whose service has a challenger
in that mode (a retrained version of the champion: the same kind of model, the same predict cost),
with the same records, workers and batch settings, and prints its records/s beside the run without
one and their ratio. Each run has a dataset, a service and workers of its own (its tables start
empty and it counts only its own rows); the workers of one run are stopped before the next starts.
With --rounds R the pair is measured R times, the order alternating (without first, then with
first, ...) so that what grows over the runs (the jobs collection) weighs on both alike; the
figures quoted are those of the pair whose ratio is the median.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aio_pika
import numpy as np
import psycopg2
from sklearn.linear_model import LinearRegression

from conveyor.amqp import dead_letter_exchange_name, dead_letter_queue_name, declare_service_queue
from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ChallengerMode, ServiceCreate
from conveyor.training import dump_model
from conveyor_tools import devstack
from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_FEATURES, demo_splits, demo_stream
from conveyor_tools.stack import Component, Stack, StackConfig
from data_source.publisher import PublishOptions, PublishSummary, publish_rows
from data_source.records import MessageFactory

AMQP_PORT = 5672
AMQP = f"amqp://guest:guest@127.0.0.1:{AMQP_PORT}/"
log = logging.getLogger("conveyor_tools.benchmarks.pipeline")
MODES = [mode.value for mode in ChallengerMode]
STORE_PATH = ("queue_manager", "ml_data_api", "secantusdb")  # what a record's job and row go through


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"--challenger-share must lie between 0 and 1, got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"--scale takes worker counts of at least 1 separated by commas, such as "
                                         f"1,2,4; got {text!r}")
    return counts


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--records", type=_positive, default=20_000)
    p.add_argument("--workers", type=_positive, default=2)
    p.add_argument("--rate", type=float, default=0.0, help="records/s to publish at (default: as fast as confirmed)")
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--batch-wait-ms", type=int, default=20)
    p.add_argument("--publishers", type=int, default=2)
    p.add_argument("--skip-broker", action="store_true", help="do not measure the bare broker")
    p.add_argument("--skip-half-rate", action="store_true",
                   help="do not run again at half the maximum rate (the publish-to-stored latency of a pipeline "
                        "that keeps up)")
    p.add_argument("--challenger", choices=MODES, default=None,
                   help="measure the run without a challenger and then the same run with a challenger in this "
                        "mode, on the same stack, and print both records/s and their ratio")
    p.add_argument("--challenger-share", type=_share, default=0.5,
                   help="split: the share of records the challenger predicts (shadow predicts every record twice)")
    p.add_argument("--scale", type=_counts, default=None, metavar="N,N,...",
                   help="a scale curve: the pipeline at the maximum rate with each of these worker counts (e.g. "
                        "1,2,4), each on a stack of its own, printed as one table: records/s, per-worker efficiency "
                        "against the first count, CPU per process and which part saturates first")
    p.add_argument("--rounds", type=_positive, default=1,
                   help="with --challenger: pairs of runs, the order alternating; the median pair is quoted")


def _factory(records: int) -> MessageFactory:
    return MessageFactory(frame=demo_stream(min(records, 20_000)), features=DEMO_FEATURES,
                          run_id=uuid.uuid4().hex[:8])


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    array = np.asarray(values)
    return {f"p{q}": round(float(np.percentile(array, q)), 1) for q in (50, 95, 99)}


async def _setup(stack: Stack, name: str, mode: ChallengerMode | None, share: float) -> None:
    """A dataset, a model and a service named `name`; with `mode`, a second version of the model as challenger."""
    training, _ = demo_splits(rows=4000)
    champion = LinearRegression().fit(training[DEMO_FEATURES].iloc[:2000], training["quality"].iloc[:2000])
    token = stack.config.api_token
    async with QueueManagerClient(stack.qm_url, token) as qm:
        await qm.ensure_dataset(DEMO_DATASET.model_copy(update={"name": name}))
        first = await qm.upload_algorithm(name=f"{name}_model", dataset=name, model=dump_model(champion))
        challenger: AlgorithmRef | None = None
        if mode is not None:
            # Retrained on later rows: what a challenger usually is, and as costly to predict as the champion.
            retrained = LinearRegression().fit(training[DEMO_FEATURES].iloc[2000:], training["quality"].iloc[2000:])
            second = await qm.upload_algorithm(name=f"{name}_model", dataset=name, model=dump_model(retrained))
            challenger = AlgorithmRef(name=second.name, version=second.version)
        await qm.create_service(ServiceCreate(
            name=name, dataset=name, queue=name, algorithm=AlgorithmRef(name=first.name, version=first.version),
            challenger=challenger, challenger_mode=mode, challenger_share=share if mode is not None else 0.0))


async def _stored_rows(stack: Stack, dataset: str) -> int:
    async with MLDataClient(stack.ml_url, stack.config.api_read_token) as ml:
        return (await ml.counts(dataset)).production


async def _finished_jobs(stack: Stack, service: str) -> int:
    # A count, not the stats endpoint: polling must not load the store it measures.
    async with QueueManagerClient(stack.qm_url, stack.config.api_read_token) as qm:
        page = await qm.list_jobs(service=service, status="finished", limit=1)
    return page.total


async def _rows(stack: Stack, dataset: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with MLDataClient(stack.ml_url, stack.config.api_read_token, timeout=120) as ml:
        while True:
            page = await ml.rows(dataset, "production", limit=10_000, offset=len(out))
            out += page.rows
            if len(out) >= page.total or not page.rows:
                return out


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process so far (Linux /proc; None elsewhere or once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _listener_pid(port: int) -> int | None:
    """The process listening on a local TCP port (Linux /proc; None when not found or not readable)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:
            continue
    return None


def _postgres_backends(database: str) -> list[int]:
    """The PostgreSQL backends serving the stack's database (ml_data_api's pool and the bench's own reads)."""
    try:
        with psycopg2.connect(devstack.database_url(database)) as conn, conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                        (database,))
            return [int(row[0]) for row in cur.fetchall()]
    except psycopg2.Error:
        return []


@dataclass
class CpuProbe:
    """CPU seconds per part of the path, read from /proc: each part is a list of processes, summed.

    PostgreSQL's part is the backends of the stack's database (one per pooled connection: a backend that appears
    during the run counts from zero); RabbitMQ's is the broker listening on 5672, which other users of the
    machine share; the publisher is this process (it also polls the stores for the count)."""

    stack: Stack
    workers: list[Component]
    broker_pid: int | None = field(default_factory=lambda: _listener_pid(AMQP_PORT))

    def read(self) -> dict[str, dict[int, float]]:
        by_name = {c.name: c for c in self.stack.components}
        parts: dict[str, list[int]] = {"workers": [w.proc.pid for w in self.workers]}
        parts |= {name: [by_name[name].proc.pid] for name in STORE_PATH if name in by_name}
        parts["postgres"] = _postgres_backends(self.stack.config.database)
        parts["rabbitmq"] = [self.broker_pid] if self.broker_pid else []
        parts["publisher"] = [os.getpid()]
        out: dict[str, dict[int, float]] = {}
        for part, pids in parts.items():
            out[part] = {pid: cpu for pid in pids if (cpu := _cpu_seconds(pid)) is not None}
        return out


def _spent(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]],
           ) -> dict[str, float | None]:
    """CPU seconds each part spent between two reads: a process gone by the second read is left out."""
    out: dict[str, float | None] = {}
    for part, end in after.items():
        start = before.get(part, {})
        out[part] = round(sum(cpu - start.get(pid, 0.0) for pid, cpu in end.items()), 2) if end else None
    return out


def _start_workers(stack: Stack, name: str, args: argparse.Namespace) -> list[Component]:
    return [stack.start_python("worker", name=f"{name}-worker-{i}", env={
        "SERVICE_NAME": name, "WORKER_ID": f"w{i}", "BATCH_SIZE": str(args.batch_size),
        "BATCH_WAIT_MS": str(args.batch_wait_ms), "MODEL_CACHE_DIR": str(stack.config.state_dir / "models"),
    }) for i in range(args.workers)]


async def _challenger_figures(stack: Stack, name: str, mode: ChallengerMode, share: float,
                              rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the challenger did: a run whose challenger silently failed would measure the champion alone."""
    async with QueueManagerClient(stack.qm_url, stack.config.api_token) as qm:
        health = (await qm.get_service(name)).challenger_health
    figures: dict[str, Any] = {"mode": mode.value, "challenger_health": health.state if health else None}
    if mode is ChallengerMode.shadow:
        figures["shadow_rows"] = sum(1 for r in rows if r.get("shadow_prediction") is not None)
    else:
        figures["share"] = share
        figures["challenger_rows"] = sum(1 for r in rows if r.get("model_role") == "challenger")
    return figures


async def pipeline(stack: Stack, args: argparse.Namespace, mode: ChallengerMode | None = None) -> dict[str, Any]:
    name = f"bench_{uuid.uuid4().hex[:6]}"
    await _setup(stack, name, mode, args.challenger_share)
    workers = _start_workers(stack, name, args)
    try:
        deadline = time.monotonic() + 120
        while not all("consuming" in stack.log_tail(w.name) for w in workers):
            if time.monotonic() > deadline:
                raise TimeoutError("workers did not start consuming")
            await asyncio.sleep(0.2)
        options = PublishOptions(name, AMQP, rate=args.rate, publishers=args.publishers, rows=args.records,
                                 loop=True, keep_published_at=True)
        probe = CpuProbe(stack, workers)
        cpu_before = probe.read()
        started = time.time()
        summary: PublishSummary = await publish_rows(options, _factory(args.records))
        deadline = time.monotonic() + 600
        while await _stored_rows(stack, name) < args.records and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        while await _finished_jobs(stack, name) < args.records and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        cpu_after = probe.read()
    finally:
        for worker in workers:  # the next run's workers do not share the cores with these
            devstack.stop_process(worker.proc)
            stack.components.remove(worker)  # gone on purpose: a stack shared with others must not list it failed
    rows = await _rows(stack, name)
    stored_at = {r["record_id"]: datetime.fromisoformat(r["inserted_at"]).timestamp() for r in rows}
    latencies = [(stored_at[rid] - sent) * 1000 for rid, sent in summary.published_at.items() if rid in stored_at]
    last = max(stored_at.values()) if stored_at else time.time()
    finished = await _finished_jobs(stack, name)
    figures: dict[str, Any] = {
        "records": args.records, "workers": args.workers, "rate_asked": args.rate or "max",
        "publish_rate": round(summary.rate, 1),
        "seconds": round(last - started, 3),
        "records_per_second": round(len(stored_at) / (last - started), 1),
        "latency_ms": _percentiles(latencies),
        "lost": len(set(summary.published_at) - set(stored_at)),
        "duplicated": (len(rows) - len(stored_at)) + max(0, finished - args.records),
        # CPU each part spent on the run (its start excluded): the workers' share says what a challenger costs
        # even when the machine is too busy for records/s to be steady.
        "cpu_seconds": _spent(cpu_before, cpu_after),
    }
    if mode is not None:
        figures |= await _challenger_figures(stack, name, mode, args.challenger_share, rows)
    await _cleanup(name)
    return figures


async def broker(args: argparse.Namespace) -> dict[str, Any]:
    """The same publishing, consumed and acknowledged by W consumers doing nothing else."""
    queue = f"bench_broker_{uuid.uuid4().hex[:6]}"
    done = asyncio.Event()
    received = 0

    async def consumer() -> aio_pika.abc.AbstractRobustConnection:
        connection = await aio_pika.connect_robust(AMQP)
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=2 * args.batch_size)
        q, _, _ = await declare_service_queue(channel, queue)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received >= args.records:
                done.set()

        await q.consume(on_message)
        return connection

    connections = [await consumer() for _ in range(args.workers)]
    options = PublishOptions(queue, AMQP, publishers=args.publishers, rows=args.records, loop=True)
    started = time.monotonic()
    await publish_rows(options, _factory(args.records))
    await asyncio.wait_for(done.wait(), timeout=600)
    seconds = time.monotonic() - started
    # Consumers gone before their queue: a quorum queue deleted under them can close the connection with an
    # INTERNAL_ERROR, and the robust connection then kept reconnecting instead of closing.
    for connection in connections:
        await connection.close()
    await _cleanup(queue)
    return {"seconds": round(seconds, 3), "records_per_second": round(args.records / seconds, 1)}


async def _cleanup(queue: str) -> None:
    async with await aio_pika.connect_robust(AMQP) as connection:
        channel = await connection.channel()
        for name in (queue, dead_letter_queue_name(queue)):
            await channel.queue_delete(name)
        await channel.exchange_delete(dead_letter_exchange_name(queue))


def _pairs(stack: Stack, args: argparse.Namespace, mode: ChallengerMode) -> dict[str, Any]:
    """R pairs (without, with the challenger), the order alternating; the pair of the median ratio quoted."""
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for round_ in range(args.rounds):
        if round_ % 2 == 0:
            baseline = asyncio.run(pipeline(stack, args))
            challenged = asyncio.run(pipeline(stack, args, mode))
        else:
            challenged = asyncio.run(pipeline(stack, args, mode))
            baseline = asyncio.run(pipeline(stack, args))
        pairs.append((baseline, challenged))
        log.info("round %d: %s records/s without a challenger, %s with one in %s mode", round_ + 1,
                 baseline["records_per_second"], challenged["records_per_second"], mode.value)
    ratios = [c["records_per_second"] / b["records_per_second"] for b, c in pairs]
    median = statistics.median_low(ratios)
    baseline, challenged = pairs[ratios.index(median)]
    figures: dict[str, Any] = {"pipeline": baseline, "challenger": challenged,
                               "ratio_challenger_to_pipeline": round(median, 3)}
    if args.rounds > 1:
        figures["rounds"] = [{"pipeline": b["records_per_second"], "challenger": c["records_per_second"],
                              "ratio": round(r, 3), "first": "pipeline" if i % 2 == 0 else "challenger"}
                             for i, ((b, c), r) in enumerate(zip(pairs, ratios, strict=True))]
    return figures


def _throwaway_config() -> StackConfig:
    config = StackConfig.throwaway()
    # Only what the pipeline uses: no retraining, and no scheduled checks (a comparison of champion and
    # challenger on the schedule would load the run with a challenger and not the other).
    config.retraining = False
    config.extra_env = {"MONITORING_CHECK_INTERVAL_SECONDS": "0"}
    return config


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.scale:
        return scale(args)
    with Stack(_throwaway_config()) as stack:
        figures = measure(stack, args)
    return with_broker(figures, args)  # the stack stopped: the bare broker has the cores to itself


# The most CPU each part can take: a Python process is one core (its GIL); PostgreSQL (a process per connection)
# and RabbitMQ (a scheduler thread per core) take every core.
SINGLE_CORE = ("queue_manager", "ml_data_api", "secantusdb", "publisher")


def saturation(run: dict[str, Any], workers: int) -> dict[str, Any]:
    """How close each part came to its ceiling: its CPU seconds over the run's seconds, as a share of the cores it
    can use (1 for a Python process, one per worker for the workers, all of them for PostgreSQL and RabbitMQ), and
    the share of the machine's cores the path took together. The part nearest its ceiling saturates first."""
    cores = os.cpu_count() or 1
    seconds = run["seconds"]
    shares: dict[str, float] = {}
    for part, cpu in run["cpu_seconds"].items():
        if cpu is None:
            continue
        ceiling = workers if part == "workers" else 1 if part in SINGLE_CORE else cores
        shares[part] = round(cpu / seconds / ceiling, 2)
    busiest = max(shares, key=lambda part: shares[part])
    total = sum(cpu for cpu in run["cpu_seconds"].values() if cpu is not None)
    return {"share_of_ceiling": shares, "busiest": busiest, "machine_share": round(total / seconds / cores, 2)}


def scale(args: argparse.Namespace, stack: Stack | None = None) -> dict[str, Any]:
    """The pipeline at the maximum rate with each worker count of --scale, each on a fresh stack (the jobs log of
    one run does not weigh on the next) unless `stack` is given; then the bare broker, once, against which each
    run's ratio is given."""
    rows: list[dict[str, Any]] = []
    for count in args.scale:
        one = argparse.Namespace(**{**vars(args), "workers": count, "rate": 0.0, "scale": None})
        if stack is not None:
            figures = asyncio.run(pipeline(stack, one))
        else:
            with Stack(_throwaway_config()) as fresh:
                figures = asyncio.run(pipeline(fresh, one))
        figures["saturation"] = saturation(figures, count)
        figures["load_after"] = round(os.getloadavg()[0], 1)
        rows.append(figures)
        log.info("%d worker(s): %s records/s", count, figures["records_per_second"])
    first = rows[0]
    per_worker_first = first["records_per_second"] / first["workers"]
    for figures in rows:
        per_worker = figures["records_per_second"] / figures["workers"]
        figures["per_worker"] = round(per_worker, 1)
        figures["efficiency"] = round(per_worker / per_worker_first, 2)
    out: dict[str, Any] = {"scale": rows}
    if not args.skip_broker:
        out["broker"] = asyncio.run(broker(args))
        for figures in rows:
            figures["ratio_to_broker"] = round(figures["records_per_second"] / out["broker"]["records_per_second"], 3)
    return out


PARTS = ("workers", "queue_manager", "ml_data_api", "secantusdb", "postgres", "rabbitmq", "publisher")


def render(figures: dict[str, Any]) -> str:
    """The figures as JSON; with --scale, then the scale curve as one table."""
    text = json.dumps(figures, indent=2)
    if "scale" not in figures:
        return text
    short = {"queue_manager": "qm", "ml_data_api": "ml", "secantusdb": "secantus", "postgres": "pg",
             "rabbitmq": "rabbit", "publisher": "pub"}
    head = (f"{'workers':>7} {'records/s':>9} {'/worker':>7} {'effic.':>6} {'broker':>6}  "
            + " ".join(f"{short.get(p, p):>8}" for p in PARTS) + "  saturates first (share of its ceiling)")
    lines = ["", "Scale curve (CPU seconds per process from /proc; share = CPU s / run s / the cores it can use)",
             head]
    for row in figures["scale"]:
        sat = row["saturation"]
        cpu = row["cpu_seconds"]
        cells = " ".join(f"{cpu.get(p) if cpu.get(p) is not None else '-':>8}" for p in PARTS)
        lines.append(f"{row['workers']:>7} {row['records_per_second']:>9} {row['per_worker']:>7} "
                     f"{row['efficiency']:>6} {row.get('ratio_to_broker', '-'):>6}  {cells}  {sat['busiest']} "
                     f"{sat['share_of_ceiling'][sat['busiest']]} (machine {sat['machine_share']} of "
                     f"{os.cpu_count()} cores, load {row['load_after']})")
    if "broker" in figures:
        lines.append(f"bare broker: {figures['broker']['records_per_second']} records/s")
    return text + "\n" + "\n".join(lines)


def measure(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """The pipeline's figures on a running stack: each run makes a dataset, a service and a queue of its own.

    Without a challenger and at the maximum rate (no --rate), the same records are then published at half the
    records/s just measured: at the maximum rate the latency is mostly the queue's backlog, at half of it the
    latency of a pipeline that keeps up."""
    if args.challenger is not None:
        return _pairs(stack, args, ChallengerMode(args.challenger))
    figures: dict[str, Any] = {"pipeline": asyncio.run(pipeline(stack, args))}
    if not args.rate and not args.skip_half_rate:
        half = argparse.Namespace(**{**vars(args), "rate": figures["pipeline"]["records_per_second"] / 2})
        figures["half_rate"] = asyncio.run(pipeline(stack, half))
        figures["latency_ms_at_half_rate"] = figures["half_rate"]["latency_ms"]
    return figures


def with_broker(figures: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """`figures` and the bare broker's, with the ratio of the two (unless --skip-broker)."""
    if not args.skip_broker:
        figures["broker"] = asyncio.run(broker(args))
        figures["ratio_pipeline_to_broker"] = round(
            figures["pipeline"]["records_per_second"] / figures["broker"]["records_per_second"], 3)
    return figures
