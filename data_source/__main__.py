"""`python -m data_source`: stream a CSV to a service's queue (every option also from DATA_SOURCE_*)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import uuid
from collections.abc import Callable

import pandas as pd

from conveyor.clients import QueueManagerClient
from conveyor.dataset_lookup import look_up_dataset
from conveyor.retry import Stopping
from conveyor.settings import PeerUrlsSettings, load, settings_or_exit
from conveyor.signals import stop_on_signals
from data_source.publisher import PublishOptions, PublishSummary, publish_rows
from data_source.records import DriftSpec, MessageFactory

log = logging.getLogger("data_source")


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"DATA_SOURCE_{name.upper()}", default)


def parser() -> argparse.ArgumentParser:
    # Numbers from the environment are text: argparse casts a text default with the option's type.
    p = argparse.ArgumentParser(prog="python -m data_source", description=__doc__)
    p.add_argument("--file", default=env("file"), help="CSV to stream (required)")
    p.add_argument("--service", default=env("service"),
                   help="the service to feed: its queue, and its dataset's schema for the defaults below")
    p.add_argument("--dataset", default=env("dataset"), help="the dataset whose schema gives the defaults below")
    p.add_argument("--queue", default=env("queue"), help="the queue to publish to (default: the service's)")
    p.add_argument("--features", default=env("features"),
                   help="comma-separated columns to send, in order (default: the dataset's features)")
    p.add_argument("--target", default=env("target"),
                   help="column never sent as a feature (default: the dataset's target)")
    p.add_argument("--timestamp-column", default=env("timestamp_column"),
                   help="column of the rows' times (default: the dataset's timestamp column)")
    p.add_argument("--record-id-column", default=env("record_id_column"))
    p.add_argument("--run-id", default=env("run_id"), help="prefix of generated record ids (default: random)")
    p.add_argument("--rate", type=float, default=env("rate", "0"), help="records/s; 0 = as fast as confirmed")
    p.add_argument("--publishers", type=int, default=env("publishers", "1"))
    p.add_argument("--rows", type=int, default=env("rows"), help="stop after N")
    p.add_argument("--loop", action="store_true", default=env("loop", "") in ("1", "true", "yes"))
    p.add_argument("--format", choices=["named", "positional"], default=env("format", "named"))
    p.add_argument("--payload-key", default=env("payload_key", "data"))
    p.add_argument("--drift-features", default=env("drift_features", ""))
    p.add_argument("--drift-shift", type=float, default=env("drift_shift", "0"))
    p.add_argument("--drift-scale", type=float, default=env("drift_scale", "1"))
    p.add_argument("--drift-from-row", type=int, default=env("drift_from_row"))
    p.add_argument("--drift-after-seconds", type=float, default=env("drift_after_seconds"))
    p.add_argument("--malformed-share", type=float, default=env("malformed_share", "0"))
    p.add_argument("--seed", type=int, default=env("seed", "0"))
    p.add_argument("--timestamps", choices=["now", "file"], default=env("timestamps", "now"))
    return p


async def take_defaults_from_schema(args: argparse.Namespace, peers: PeerUrlsSettings, stop: asyncio.Event) -> None:
    """Fill what was not given from the dataset's schema in queue_manager; explicit options win."""
    if not (args.dataset or args.service):
        return
    async with QueueManagerClient(peers.queue_manager_url, peers.api_token) as qm:
        found = await look_up_dataset(qm, dataset=args.dataset, service=args.service, stop=stop)
    schema = found.dataset
    args.queue = args.queue or (found.service.queue if found.service else None)
    args.features = args.features or ",".join(schema.feature_names)
    args.target = args.target or schema.target
    args.timestamp_column = args.timestamp_column or schema.timestamp_column


def factory_from(args: argparse.Namespace) -> MessageFactory:
    frame = pd.read_csv(args.file)
    if args.features:
        features = [f.strip() for f in args.features.split(",") if f.strip()]
    else:
        skip = {args.target, args.timestamp_column, args.record_id_column, "record_id"}
        features = [c for c in frame.columns if c not in skip]
        not_numbers = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
        if not_numbers:
            raise ValueError(
                f"column(s) {not_numbers} are not numbers: name the features with --features, or the dataset "
                "with --dataset / --service (its schema names them), or leave columns out with "
                "--timestamp-column / --target"
            )
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


def progress_printer(total: int | None) -> Callable[[PublishSummary], None]:
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


async def run(args: argparse.Namespace, peers: PeerUrlsSettings) -> PublishSummary:
    stop = stop_on_signals(asyncio.Event())
    try:
        await take_defaults_from_schema(args, peers, stop)
    except Stopping:
        log.info("stopped while asking queue_manager for the dataset: nothing streamed")
        return PublishSummary()
    factory = factory_from(args)
    options = PublishOptions(queue=args.queue, amqp_url=peers.amqp_url, rate=args.rate, publishers=args.publishers,
                             rows=args.rows, loop=args.loop)
    total = args.rows if args.rows is not None else (None if args.loop else len(factory.frame))
    log.info("streaming %s rows of %d features to %s", total if total is not None else "endless",
             len(factory.features), args.queue)
    return await publish_rows(options, factory, stop, progress_printer(total))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = parser()
    args = options.parse_args()
    if not args.queue and not args.service:
        options.error("--queue or --service (or DATA_SOURCE_QUEUE / DATA_SOURCE_SERVICE) is required")
    if not args.file:
        options.error("--file (or DATA_SOURCE_FILE) is required: the CSV to stream "
                      "(`conveyor generate-data` writes demo rows)")
    peers = settings_or_exit(lambda: load(PeerUrlsSettings))
    try:
        summary = asyncio.run(run(args, peers))
    except (ValueError, FileNotFoundError) as exc:
        options.error(str(exc))
    print(json.dumps(summary.as_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
