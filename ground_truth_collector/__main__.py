"""`python -m ground_truth_collector`: send late labels of predicted records (options also GTC_*)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import pandas as pd

from conveyor.clients import MLDataClient
from conveyor_tools import localenv
from ground_truth_collector.collector import Collector, CollectorOptions
from ground_truth_collector.labels import LabelSource

log = logging.getLogger("ground_truth_collector")


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"GTC_{name.upper()}", default)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ground_truth_collector", description=__doc__)
    state = Path(os.environ.get("CONVEYOR_STATE_DIR", ".conveyor"))
    p.add_argument("--dataset", default=env("dataset", "product_quality"))
    p.add_argument("--service", default=env("service"))
    p.add_argument("--file", default=env("file", str(state / "demo_stream.csv")),
                   help="the file the data source streams, with the true labels")
    p.add_argument("--label-column", default=env("label_column", "quality"))
    p.add_argument("--record-id-column", default=env("record_id_column"))
    p.add_argument("--timestamp-column", default=env("timestamp_column", "date_time"))
    p.add_argument("--delay-seconds", type=float, default=float(env("delay_seconds", "30")))
    p.add_argument("--interval-seconds", type=float, default=float(env("interval_seconds", "10")))
    p.add_argument("--missing-share", type=float, default=float(env("missing_share", "0.1")))
    p.add_argument("--seed", type=int, default=int(env("seed", "0")))
    p.add_argument("--append-to-training", action="store_true",
                   default=env("append_to_training", "") in ("1", "true", "yes"))
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    return p


async def run(args: argparse.Namespace) -> int:
    source = LabelSource(pd.read_csv(args.file), args.label_column, args.record_id_column)
    options = CollectorOptions(
        dataset=args.dataset, service=args.service, delay_seconds=args.delay_seconds,
        interval_seconds=args.interval_seconds, missing_share=args.missing_share, seed=args.seed,
        append_to_training=args.append_to_training,
    )
    url = localenv.lookup("ML_DATA_API_URL", "http://127.0.0.1:8004")
    async with MLDataClient(url, localenv.lookup("API_TOKEN", "dev-token"), timeout=60) as ml:
        collector = Collector(options, source, ml, args.timestamp_column)
        if args.once:
            print(f"sent {await collector.collect_once()} labels")
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("collecting labels for %s every %gs, %gs after prediction, %.0f%% never arrive", args.dataset,
                 args.interval_seconds, args.delay_seconds, 100 * args.missing_share)
        await collector.run(stop)
    return 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        return asyncio.run(run(parser().parse_args()))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
