"""`conveyor bench <what>`: benchmarks that print their figures (as JSON unless the benchmark renders them)."""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

# name -> module in conveyor_tools.benchmarks with add_arguments(parser) and run(args) -> dict; a module may
# also define render(figures) -> str (printed instead of the JSON) and a --json PATH option (the JSON written there)
BENCHMARKS = {
    "ingest": "conveyor_tools.benchmarks.ingest",
    "pipeline": "conveyor_tools.benchmarks.pipeline",
    "monitoring": "conveyor_tools.benchmarks.monitoring",
    "retraining": "conveyor_tools.benchmarks.retraining",
    "monitoring-quality": "conveyor_tools.benchmarks.monitoring_quality",
    "dashboard": "conveyor_tools.benchmarks.dashboard",
    "faults": "conveyor_tools.benchmarks.faults",
    "baseline": "conveyor_tools.benchmarks.baseline",
}


def register(sub: argparse._SubParsersAction, words: Sequence[str] = ()) -> None:
    p = sub.add_parser("bench", help="run a benchmark and print its figures")
    kinds = p.add_subparsers(dest="benchmark", required=True)
    # Only the benchmark asked for is imported (each pulls in what it measures); all of them for help.
    asked = [words[0]] if words and words[0] in BENCHMARKS else list(BENCHMARKS)
    for name in asked:
        module = importlib.import_module(BENCHMARKS[name])
        parser = kinds.add_parser(name, help=(module.__doc__ or name).strip().splitlines()[0])
        module.add_arguments(parser)
        parser.set_defaults(func=lambda args, m=module: _run(m, args))


def _run(module: ModuleType, args: argparse.Namespace) -> int:
    figures = module.run(args)
    text = json.dumps(figures, indent=2)
    print(module.render(figures) if hasattr(module, "render") else text)
    if getattr(args, "json", None):
        Path(args.json).write_text(text + "\n")
    return 0
