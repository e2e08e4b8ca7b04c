"""`conveyor generate-data`: roasting-machine-like rows as CSV."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from conveyor_tools import datagen


def register(sub: argparse._SubParsersAction, words: Sequence[str] = ()) -> None:
    p = sub.add_parser("generate-data", help="write roasting-machine-like demo data as CSV")
    p.add_argument("--rows", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", default="2015-01-04 00:00", help="time of the first (hourly) row")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.add_argument("--drift-features", default="", help="comma-separated sensors to drift")
    p.add_argument("--drift-from-row", type=int, default=0)
    p.add_argument("--drift-shift", type=float, default=0.0, help="added, in the sensor's own units")
    p.add_argument("--drift-scale", type=float, default=1.0, help="multiplied")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    drift = []
    if args.drift_features:
        try:
            drift.append(datagen.Drift(
                features=[f.strip() for f in args.drift_features.split(",") if f.strip()],
                from_row=args.drift_from_row, shift=args.drift_shift, scale=args.drift_scale,
            ))
        except ValueError as exc:
            print(f"error: {exc}")
            return 2
    frame = datagen.generate(args.rows, seed=args.seed, start=args.start, drift=drift)
    path = datagen.write_csv(frame, args.out)
    what = f", drift on {args.drift_features} from row {args.drift_from_row}" if drift else ""
    print(f"wrote {len(frame)} rows ({frame['date_time'].iloc[0]} .. {frame['date_time'].iloc[-1]}{what}) to {path}")
    return 0
