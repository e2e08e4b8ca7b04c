"""`conveyor demo`: the whole platform on this machine with demo data, in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from conveyor.clients import APIError, MLDataClient, QueueManagerClient
from conveyor.records import to_records
from conveyor.schemas.services import RetrainingPolicy, ServiceCreate, ServiceUpdate
from conveyor_tools import devstack, localenv
from conveyor_tools.cli import demo_drift
from conveyor_tools.cli.demo_drift import DriftRequest
from conveyor_tools.stack import Stack, StackConfig

log = logging.getLogger("conveyor.demo")


def register(sub: argparse._SubParsersAction, words: Sequence[str] = ()) -> None:
    p = sub.add_parser("demo", help="start the platform with demo data (Ctrl-C stops it)")
    p.add_argument("--rows", type=int, default=6000, help="demo rows for training + testing")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--rate", type=float, default=float(os.environ.get("DEMO_RATE", 10)),
                   help="records per second the data source streams")
    p.add_argument("--workers", type=int, default=2, help="worker replicas")
    p.add_argument("--label-delay-seconds", type=float, default=float(os.environ.get("DEMO_LABEL_DELAY_SECONDS", 20)),
                   help="how long after its prediction a record's true quality arrives (ground truth comes late)")
    p.add_argument("--drift-after-seconds", type=float, default=None, metavar="S",
                   help="inject the demo's sensor fault S seconds after the start, as `conveyor demo-drift` does "
                        "(default: never; the demo streams undrifted rows)")
    p.set_defaults(func=run)
    demo_drift.register(sub)


def _config() -> StackConfig:
    previous = localenv.read()
    token = os.environ.get("API_TOKEN") or previous.get("API_TOKEN") or secrets.token_hex(24)
    read_token = os.environ.get("API_READ_TOKEN") or previous.get("API_READ_TOKEN") or secrets.token_hex(24)
    return StackConfig(
        state_dir=devstack.STATE_DIR,
        qm_port=int(os.environ.get("QUEUE_MANAGER_PORT", 8001)),
        ml_port=int(os.environ.get("ML_DATA_API_PORT", 8004)),
        monitoring_port=int(os.environ.get("MONITORING_API_PORT", 8005)),
        retraining_port=int(os.environ.get("RETRAINING_API_PORT", 8006)),
        admin=True,
        admin_port=int(os.environ.get("ADMIN_PORT", 8000)),
        admin_user=os.environ.get("ADMIN_USER") or previous.get("ADMIN_USER") or "admin",
        # No default password: the one given, the one made for an earlier demo, or a new random one.
        admin_password=os.environ.get("ADMIN_PASSWORD") or previous.get("ADMIN_PASSWORD") or secrets.token_hex(12),
        extra_env={"MONITORING_CHECK_INTERVAL_SECONDS": os.environ.get(
            "MONITORING_CHECK_INTERVAL_SECONDS", os.environ.get("CHECK_INTERVAL_SECONDS", "30"))},
        mongodb_uri=os.environ.get("MONGODB_URI") or None,
        mongo_port=int(os.environ.get("DEMO_MONGO_PORT", 27017)),
        database=os.environ.get("DEMO_DATABASE", "conveyor_demo"),
        api_token=token,
        api_read_token=read_token,
    )


def _check_ports_free(config: StackConfig) -> None:
    ports = {"queue_manager": config.qm_port, "ml_data_api": config.ml_port, "monitoring_api": config.monitoring_port,
             "retraining_api": config.retraining_port, "django_admin": config.admin_port}
    if config.mongodb_uri is None:
        ports["secantusdb"] = config.mongo_port
    busy = [f"{name} :{port}" for name, port in ports.items() if devstack.port_open("127.0.0.1", port)]
    if busy:
        raise SystemExit(
            f"ports in use ({', '.join(busy)}): is a demo already running? "
            "Stop it, or set QUEUE_MANAGER_PORT / ML_DATA_API_PORT / MONITORING_API_PORT / RETRAINING_API_PORT / "
            "ADMIN_PORT / DEMO_MONGO_PORT."
        )


async def seed(stack: Stack, rows: int, seed_value: int) -> dict[str, int]:
    """Register the demo dataset and service, and load training and testing rows once."""
    from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_QUEUE, DEMO_RETRAINING_POLICY, DEMO_SERVICE, demo_splits

    token = stack.config.api_token
    async with QueueManagerClient(stack.qm_url, token) as qm, MLDataClient(stack.ml_url, token) as ml:
        await qm.ensure_dataset(DEMO_DATASET)
        try:
            service = await qm.get_service(DEMO_SERVICE)
            # A demo made before it had a policy gets it; a policy someone set stays theirs.
            if service.retraining == RetrainingPolicy():
                await qm.update_service(DEMO_SERVICE, ServiceUpdate(retraining=DEMO_RETRAINING_POLICY))
        except APIError as exc:
            if exc.status_code != 404:
                raise
            await qm.create_service(ServiceCreate(name=DEMO_SERVICE, dataset=DEMO_DATASET.name, queue=DEMO_QUEUE,
                                                  retraining=DEMO_RETRAINING_POLICY))
        counts = await ml.counts(DEMO_DATASET.name)
        training, testing = demo_splits(rows=rows, seed=seed_value)
        for split, frame in (("training", training), ("testing", testing)):
            if getattr(counts, split) == 0:
                records = to_records(frame)
                for start in range(0, len(records), 5000):
                    await ml.insert_rows(DEMO_DATASET.name, split, records[start : start + 5000])
        return (await ml.counts(DEMO_DATASET.name)).model_dump()


def run(args: argparse.Namespace) -> int:
    config = _config()
    _check_ports_free(config)
    stack = Stack(config)
    stopping = False

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        log.info("received %s, stopping", signal.Signals(signum).name)

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.start()
        counts = asyncio.run(seed(stack, args.rows, args.seed))
        values = {
            "API_TOKEN": config.api_token,
            "API_READ_TOKEN": config.api_read_token,
            "QUEUE_MANAGER_URL": stack.qm_url,
            "ML_DATA_API_URL": stack.ml_url,
            "MONITORING_API_URL": stack.monitoring_url,
            "RETRAINING_API_URL": stack.retraining_url,
            "ADMIN_URL": stack.admin_url,
            "ADMIN_USER": config.admin_user,
            "ADMIN_PASSWORD": config.admin_password,
            "MONGODB_URI": stack.mongodb_uri,
            "DATABASE_URL": stack.database_url,
        }
        model = asyncio.run(ensure_model(stack))
        worker_metrics = start_pipeline(stack, args)
        values["WORKER_METRICS"] = ",".join(worker_metrics)
        localenv.write(values)
        print(_banner(stack, counts, model, worker_metrics, args.rate), flush=True)
        drift_at = None if args.drift_after_seconds is None else time.monotonic() + args.drift_after_seconds
        while not stopping:
            dead = stack.failed()
            if dead:
                for component in dead:
                    log.error("%s stopped unexpectedly:\n%s", component.name, stack.log_tail(component.name))
                return 1
            request = _drift_requested(stack.config.state_dir)
            if request is None and drift_at is not None and time.monotonic() >= drift_at:
                request, drift_at = DriftRequest(), None
            if request is not None:
                inject_fault(stack, args.rate, request)
            time.sleep(0.5)
        return 0
    finally:
        stack.stop()
        log.info("demo stopped")


async def ensure_model(stack: Stack) -> str:
    """Train and assign a first model when the demo service has none."""
    from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_SERVICE

    async with QueueManagerClient(stack.qm_url, stack.config.api_token) as qm:
        service = await qm.get_service(DEMO_SERVICE)
    if service.algorithm is None:
        log.info("training a first model for %s (PyCaret, about half a minute)", DEMO_SERVICE)
        trainer = stack.start_python("conveyor_tools.cli.main", name="train", args=[
            "train", "--dataset", DEMO_DATASET.name, "--assign", DEMO_SERVICE, "--stage", "production"])
        if trainer.proc.wait() != 0:
            raise RuntimeError(f"training the first model failed:\n{stack.log_tail('train')}")
        stack.components.remove(trainer)
        async with QueueManagerClient(stack.qm_url, stack.config.api_token) as qm:
            service = await qm.get_service(DEMO_SERVICE)
    if service.algorithm is None:
        raise RuntimeError(f"{DEMO_SERVICE} has no model even after training one")
    return f"{service.algorithm.name} v{service.algorithm.version}"


def demo_stream_file(state_dir: Path) -> Path:
    """The rows the data source streams, with their true labels for the collector: made once, then kept."""
    from conveyor_tools import datagen
    from conveyor_tools.demo_dataset import demo_stream

    path = state_dir / "demo_stream.csv"
    if not path.exists():
        datagen.write_csv(demo_stream(10_000), path)
    return path


def start_pipeline(stack: Stack, args: argparse.Namespace) -> list[str]:
    """Worker replicas, the streaming data source and the label collector; answers the workers' metrics URLs."""
    from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_SERVICE

    urls = []
    base_port = int(os.environ.get("DEMO_WORKER_METRICS_PORT", 9101))
    port = base_port - 1
    for i in range(args.workers):
        # The next free port from the base on: the one after the base may be taken by anything else.
        port = devstack.next_free_port(port + 1)
        stack.start_python("worker", name=f"worker-{i + 1}", env={
            "SERVICE_NAME": DEMO_SERVICE, "WORKER_ID": f"worker-{i + 1}", "WORKER_METRICS_PORT": str(port),
            "MODEL_CACHE_DIR": str(stack.config.state_dir / "models"),
        })
        urls.append(f"http://127.0.0.1:{port}/metrics")
    # Each start streams undrifted rows: a fault asked for earlier is not carried over.
    for name in (demo_drift.REQUEST_FILE, demo_drift.STARTED_FILE):
        (stack.config.state_dir / name).unlink(missing_ok=True)
    stack.start_python("data_source", name=DATA_SOURCE, args=_data_source_args(stack, args.rate))
    stream = str(demo_stream_file(stack.config.state_dir))
    stack.start_python("ground_truth_collector", name="ground_truth_collector", args=[
        "--dataset", DEMO_DATASET.name, "--service", DEMO_SERVICE, "--file", stream,
        "--label-column", DEMO_DATASET.target, "--timestamp-column", DEMO_DATASET.timestamp_column,
        "--delay-seconds", f"{args.label_delay_seconds:g}",
        "--interval-seconds", f"{min(5.0, max(1.0, args.label_delay_seconds / 4)):g}", "--missing-share", "0.1",
    ])
    return urls


DATA_SOURCE = "data_source"  # the component streaming the demo's rows (undrifted, or with the fault)


def _data_source_args(stack: Stack, rate: float) -> list[str]:
    # The components assume no dataset: the demo names its own columns (and the stack's env its URLs and token).
    from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_FEATURES, DEMO_QUEUE

    return ["--queue", DEMO_QUEUE, "--file", str(demo_stream_file(stack.config.state_dir)),
            "--features", ",".join(DEMO_FEATURES), "--target", DEMO_DATASET.target,
            "--timestamp-column", DEMO_DATASET.timestamp_column, "--loop", "--rate", f"{rate:g}"]


def _drift_requested(state_dir: Path) -> DriftRequest | None:
    try:
        return demo_drift.take_request(state_dir)
    except ValueError as exc:
        log.error("%s", exc)
        return None


def inject_fault(stack: Stack, rate: float, request: DriftRequest) -> None:
    """Replace the streaming data source by one sending faulty readings of `request.features`.

    The undrifted source stops: a real sensor fault affects every row, and a window mixing faulty and good
    rows would show half the shift and give a retrained model two relations to learn at once.
    """
    for component in [c for c in stack.components if c.name == DATA_SOURCE]:
        devstack.stop_process(component.proc)
        stack.components.remove(component)
    run_id = f"fault{int(time.time())}"  # record ids of its own: the faulty rows can be told apart
    args = [*_data_source_args(stack, rate), "--run-id", run_id, *request.data_source_args()]
    stack.start_python("data_source", name=DATA_SOURCE, args=args)
    demo_drift.record_started(stack.config.state_dir, request, run_id)
    log.warning("sensor fault injected: %s (python -m data_source %s)", request.describe(), " ".join(args))


def _banner(stack: Stack, counts: dict[str, int], model: str, workers: list[str], rate: float) -> str:
    from conveyor_tools.demo_dataset import DEMO_QUEUE, DEMO_SERVICE

    return "\n".join([
        "",
        "Conveyor demo is running (Ctrl-C stops it).",
        f"  admin + dashboards {stack.admin_url}/admin  user {stack.config.admin_user}  password "
        f"{stack.config.admin_password}",
        f"                 dashboards: {stack.admin_url}/dash_main_dashboard, /dash_monitoring_links, "
        "/dash_monitoring, /dash_retraining, /dash_pipeline_map",
        f"  queue_manager  {stack.qm_url}/docs",
        f"  ml_data_api    {stack.ml_url}/docs",
        f"  monitoring_api {stack.monitoring_url}/docs  (e.g. {stack.monitoring_url}/monitoring_api/data_drift"
        f"?dataset=product_quality&service={DEMO_SERVICE}&format=html)",
        f"  retraining_api {stack.retraining_url}/docs  (explainer: {stack.retraining_url}/retraining_api/"
        "get_explainer_dashboard?model_name=product_quality_model&evaluate_on=production)",
        f"  API tokens     write {stack.config.api_token}, read {stack.config.api_read_token}",
        f"  demo data      product_quality: {counts}",
        f"  service        {DEMO_SERVICE} on queue {DEMO_QUEUE}, model {model}",
        f"  workers        {len(workers)} replicas, metrics at {', '.join(workers)}",
        f"  data source    streaming {rate:g} undrifted records/s (watch: conveyor status)",
        "  ground truth   labels arrive 20 s after prediction, 10% never do",
        f"  retraining     {DEMO_SERVICE} retrains itself on drift (post-drift rows only, auto-promoted)",
        "  drift          after a minute, in another terminal: conveyor demo-drift --follow",
        f"                 (a sensor fault: {DriftRequest().describe()})",
        f"  settings       {localenv.DEMO_ENV} (source it to use the CLI against the demo)",
        f"  logs           {stack.logs}",
        "",
    ])
