"""`python -m ground_truth_collector`: send late labels of predicted records (options also GTC_*)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

import pandas as pd

from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.dataset_lookup import look_up_dataset
from conveyor.retry import Stopping
from conveyor.settings import PeerUrlsSettings, load, settings_or_exit
from conveyor.signals import stop_on_signals
from ground_truth_collector.collector import Collector, CollectorOptions
from ground_truth_collector.labels import LabelSource

log = logging.getLogger("ground_truth_collector")


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"GTC_{name.upper()}", default)


def parser() -> argparse.ArgumentParser:
    # Numbers from the environment are text: argparse casts a text default with the option's type.
    p = argparse.ArgumentParser(prog="python -m ground_truth_collector", description=__doc__)
    p.add_argument("--dataset", default=env("dataset"),
                   help="the dataset whose labels to send (default: the service's)")
    p.add_argument("--service", default=env("service"), help="label only the records this service predicted")
    p.add_argument("--file", default=env("file"),
                   help="the file the data source streams, with the true labels (required)")
    p.add_argument("--label-column", default=env("label_column"),
                   help="the file's column of true labels (default: the dataset's target)")
    p.add_argument("--record-id-column", default=env("record_id_column"))
    p.add_argument("--timestamp-column", default=env("timestamp_column"),
                   help="the production rows' time column (default: the dataset's timestamp column)")
    p.add_argument("--delay-seconds", type=float, default=env("delay_seconds", "30"))
    p.add_argument("--interval-seconds", type=float, default=env("interval_seconds", "10"))
    p.add_argument("--missing-share", type=float, default=env("missing_share", "0.1"))
    p.add_argument("--seed", type=int, default=env("seed", "0"))
    p.add_argument("--append-to-training", action="store_true",
                   default=env("append_to_training", "") in ("1", "true", "yes"))
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    return p


async def take_defaults_from_schema(args: argparse.Namespace, peers: PeerUrlsSettings, stop: asyncio.Event) -> None:
    """Fill what was not given from the dataset's schema in queue_manager; explicit options win."""
    if args.dataset and args.label_column and args.timestamp_column:
        return
    async with QueueManagerClient(peers.queue_manager_url, peers.api_token) as qm:
        found = await look_up_dataset(qm, dataset=args.dataset, service=args.service, stop=stop)
    args.dataset = args.dataset or found.dataset.name
    args.label_column = args.label_column or found.dataset.target
    args.timestamp_column = args.timestamp_column or found.dataset.timestamp_column


async def run(args: argparse.Namespace, peers: PeerUrlsSettings) -> int:
    stop = stop_on_signals(asyncio.Event())
    try:
        await take_defaults_from_schema(args, peers, stop)
    except Stopping:
        log.info("stopped while asking queue_manager for the dataset: no labels sent")
        return 0
    source = LabelSource(pd.read_csv(args.file), args.label_column, args.record_id_column)
    options = CollectorOptions(
        dataset=args.dataset, service=args.service, delay_seconds=args.delay_seconds,
        interval_seconds=args.interval_seconds, missing_share=args.missing_share, seed=args.seed,
        append_to_training=args.append_to_training,
    )
    async with MLDataClient(peers.ml_data_api_url, peers.api_token, timeout=60) as ml:
        collector = Collector(options, source, ml, args.timestamp_column)
        if args.once:
            print(f"sent {await collector.collect_once()} labels")
            return 0
        log.info("collecting labels for %s every %gs, %gs after prediction, %.0f%% never arrive", args.dataset,
                 args.interval_seconds, args.delay_seconds, 100 * args.missing_share)
        await collector.run(stop)
    return 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = parser()
    args = options.parse_args()
    if not args.dataset and not args.service:
        options.error("--dataset or --service (or GTC_DATASET / GTC_SERVICE) is required")
    if not args.file:
        options.error("--file (or GTC_FILE) is required: the file the data source streams, with the true labels")
    peers = settings_or_exit(lambda: load(PeerUrlsSettings))
    try:
        return asyncio.run(run(args, peers))
    except (ValueError, FileNotFoundError) as exc:
        options.error(str(exc))


if __name__ == "__main__":
    sys.exit(main())
