"""`conveyor load`: bulk-load a CSV into a dataset's table through ml_data_api."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import pandas as pd

from conveyor.clients import MLDataClient
from conveyor.records import to_records
from conveyor.schemas.data import PRODUCTION_COLUMNS
from conveyor_tools.cli.common import run_api, service_url, write_token


def register(sub: argparse._SubParsersAction, words: Sequence[str] = ()) -> None:
    p = sub.add_parser("load", help="bulk-load a CSV into training, testing or production rows")
    p.add_argument("--dataset", required=True)
    p.add_argument("--split", required=True, choices=["training", "testing", "production"])
    p.add_argument("--file", required=True, help="CSV with a header row")
    p.add_argument("--url", default=None, help="ml_data_api base URL (default: ML_DATA_API_URL or the demo's)")
    p.add_argument("--token", default=None, help="the write token (default: API_TOKEN or the demo's)")
    p.add_argument("--batch-size", type=int, default=10_000)
    p.add_argument("--columns", choices=["auto", "all"], default="auto",
                   help="auto: drop columns the dataset does not have; all: send every column")
    p.set_defaults(func=run)


async def load(args: argparse.Namespace, url: str, token: str) -> tuple[int, int, list[str]]:
    inserted = duplicates = 0
    dropped: list[str] = []
    async with MLDataClient(url, token, timeout=300) as ml:
        keep: set[str] | None = None
        if args.columns == "auto":
            schema = await ml.get_dataset(args.dataset)
            keep = {*schema.feature_names, schema.target, schema.timestamp_column}
            if args.split == "production":
                keep |= set(PRODUCTION_COLUMNS)
        for chunk in pd.read_csv(args.file, chunksize=args.batch_size):
            if keep is not None:
                extra = [c for c in chunk.columns if c not in keep]
                dropped = dropped or extra
                chunk = chunk.drop(columns=extra)
            result = await ml.insert_rows(args.dataset, args.split, to_records(chunk))
            inserted += result.inserted
            duplicates += result.duplicates
    return inserted, duplicates, dropped


def run(args: argparse.Namespace) -> int:
    url = args.url or service_url("ML_DATA_API")
    token = args.token or write_token()
    started = time.perf_counter()
    code, result = run_api(load(args, url, token))
    if code:
        return code
    inserted, duplicates, dropped = result
    seconds = time.perf_counter() - started
    if dropped:
        print(f"columns not in dataset {args.dataset!r}, not sent: {', '.join(dropped)}")
    print(f"loaded {inserted} rows into {args.dataset}/{args.split} ({duplicates} duplicates) "
          f"in {seconds:.1f}s, {inserted / seconds:,.0f} rows/s")
    return 0
