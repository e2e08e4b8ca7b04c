"""`python -m data_source`: stream a CSV to a service's queue (every option also from DATA_SOURCE_*)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import uuid
from pathlib import Path

import pandas as pd

from conveyor.settings import amqp_url
from data_source.publisher import PublishOptions, PublishSummary, publish_rows
from data_source.records import DriftSpec, MessageFactory

log = logging.getLogger("data_source")
DEFAULT_FILE = Path(os.environ.get("CONVEYOR_STATE_DIR", ".conveyor")) / "demo_stream.csv"


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"DATA_SOURCE_{name.upper()}", default)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m data_source", description=__doc__)
    p.add_argument("--queue", default=env("queue"), help="the service's queue (required)")
    p.add_argument("--file", default=env("file"), help=f"CSV to stream (default: generated {DEFAULT_FILE})")
    p.add_argument("--features", default=env("features"), help="comma-separated columns to send, in order")
    p.add_argument("--target", default=env("target", "quality"), help="column never sent as a feature")
    p.add_argument("--timestamp-column", default=env("timestamp_column", "date_time"))
    p.add_argument("--record-id-column", default=env("record_id_column"))
    p.add_argument("--run-id", default=env("run_id"), help="prefix of generated record ids (default: random)")
    p.add_argument("--rate", type=float, default=float(env("rate", "0")), help="records/s; 0 = as fast as confirmed")
    p.add_argument("--publishers", type=int, default=int(env("publishers", "1")))
    p.add_argument("--rows", type=int, default=int(env("rows")) if env("rows") else None, help="stop after N")
    p.add_argument("--loop", action="store_true", default=env("loop", "") in ("1", "true", "yes"))
    p.add_argument("--format", choices=["named", "positional"], default=env("format", "named"))
    p.add_argument("--payload-key", default=env("payload_key", "data"))
    p.add_argument("--drift-features", default=env("drift_features", ""))
    p.add_argument("--drift-shift", type=float, default=float(env("drift_shift", "0")))
    p.add_argument("--drift-scale", type=float, default=float(env("drift_scale", "1")))
    p.add_argument("--drift-from-row", type=int, default=int(env("drift_from_row")) if env("drift_from_row") else None)
    p.add_argument("--drift-after-seconds", type=float,
                   default=float(env("drift_after_seconds")) if env("drift_after_seconds") else None)
    p.add_argument("--malformed-share", type=float, default=float(env("malformed_share", "0")))
    p.add_argument("--seed", type=int, default=int(env("seed", "0")))
    p.add_argument("--timestamps", choices=["now", "file"], default=env("timestamps", "now"))
    return p


def default_file() -> Path:
    if not DEFAULT_FILE.exists():
        from conveyor_tools import datagen
        from conveyor_tools.demo_dataset import demo_stream

        datagen.write_csv(demo_stream(10_000), DEFAULT_FILE)
    return DEFAULT_FILE


def factory_from(args: argparse.Namespace) -> MessageFactory:
    frame = pd.read_csv(args.file or default_file())
    skip = {args.target, args.timestamp_column, args.record_id_column, "record_id"}
    features = ([f.strip() for f in args.features.split(",") if f.strip()] if args.features
                else [c for c in frame.columns if c not in skip])
    drift = []
    if args.drift_features:
        if args.drift_from_row is None and args.drift_after_seconds is None:
            args.drift_from_row = 0
        drift.append(DriftSpec(tuple(f.strip() for f in args.drift_features.split(",")), args.drift_shift,
                               args.drift_scale, args.drift_from_row, args.drift_after_seconds))
        unknown = [f for f in drift[0].features if f not in features]
        if unknown:
            raise ValueError(f"drift feature(s) {unknown} are not among the features sent: {features}")
    return MessageFactory(
        frame=frame, features=features, run_id=args.run_id or uuid.uuid4().hex[:8], fmt=args.format,
        payload_key=args.payload_key, timestamp_column=args.timestamp_column,
        record_id_column=args.record_id_column, timestamps=args.timestamps, drift=drift,
        malformed_share=args.malformed_share, seed=args.seed,
    )


def progress_printer(total: int | None):  # type: ignore[no-untyped-def]
    if sys.stdout.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, unit="rec")

        def show(summary: PublishSummary) -> None:
            bar.update(summary.confirmed - bar.n)
            bar.set_postfix(rate=f"{summary.rate:.0f}/s")
        return show

    def log_line(summary: PublishSummary) -> None:
        if int(summary.elapsed) % 5 == 0:
            log.info("published %d, confirmed %d, %.0f/s", summary.published, summary.confirmed, summary.rate)
    return log_line


async def run(args: argparse.Namespace) -> PublishSummary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    factory = factory_from(args)
    options = PublishOptions(queue=args.queue, amqp_url=amqp_url(), rate=args.rate, publishers=args.publishers,
                             rows=args.rows, loop=args.loop)
    total = args.rows if args.rows is not None else (None if args.loop else len(factory.frame))
    log.info("streaming %s rows of %d features to %s", total if total is not None else "endless",
             len(factory.features), args.queue)
    return await publish_rows(options, factory, stop, progress_printer(total))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args()
    if not args.queue:
        print("error: --queue (or DATA_SOURCE_QUEUE) is required", file=sys.stderr)
        return 2
    try:
        summary = asyncio.run(run(args))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary.as_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
