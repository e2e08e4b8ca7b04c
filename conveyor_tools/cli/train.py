"""`conveyor train`: train a model on a dataset's stored rows, upload it, optionally assign it."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

import pandas as pd

from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.schemas.algorithms import AlgorithmRef, HoldoutSplit, HoldoutWindow
from conveyor.schemas.services import ServiceUpdate
from conveyor_tools.cli.common import run_api, service_url, write_token

PAGE = 10_000


def register(sub: argparse._SubParsersAction, words: Sequence[str] = ()) -> None:
    p = sub.add_parser("train", help="train a PyCaret model on stored rows and upload it")
    p.add_argument("--dataset", required=True)
    p.add_argument("--name", default=None, help="algorithm name (default: <dataset>_model)")
    p.add_argument("--include", default=None, help="PyCaret model ids to compare, e.g. lr,ridge,dt")
    p.add_argument("--budget-seconds", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--assign", default=None, metavar="SERVICE", help="assign the new model to this service")
    p.add_argument("--stage", choices=["staging", "production"], default="staging")
    p.add_argument("--qm-url", default=None)
    p.add_argument("--ml-url", default=None)
    p.add_argument("--token", default=None, help="the write token (default: API_TOKEN or the demo's)")
    p.set_defaults(func=run)


async def all_rows(ml: MLDataClient, dataset: str, split: str) -> pd.DataFrame:
    rows: list[dict] = []
    while True:
        page = await ml.rows(dataset, split, limit=PAGE, offset=len(rows))
        rows += page.rows
        if len(rows) >= page.total or not page.rows:
            return pd.DataFrame.from_records(rows)


async def train(args: argparse.Namespace, qm_url: str, ml_url: str, token: str) -> str:
    from conveyor.training import dump_model, train_model

    async with QueueManagerClient(qm_url, token, timeout=120) as qm, MLDataClient(ml_url, token, timeout=120) as ml:
        dataset = await qm.get_dataset(args.dataset)
        schema = dataset.to_schema()
        training = await all_rows(ml, schema.name, "training")
        testing = await all_rows(ml, schema.name, "testing")
        if training.empty:
            raise ValueError(f"dataset {schema.name!r} has no training rows: load some with `conveyor load`")
        if testing.empty:
            raise ValueError(f"dataset {schema.name!r} has no testing rows to score the model on")
        include = [i.strip() for i in args.include.split(",")] if args.include else None
        trained = await asyncio.to_thread(train_model, training, testing, schema, include, args.budget_seconds,
                                          args.seed)
        name = args.name or f"{schema.name}_model"
        algorithm = await qm.upload_algorithm(
            name=name, dataset=schema.name, model=dump_model(trained.pipeline), filename=f"{name}.joblib",
            config=trained.config, config_filename=f"{name}_config.joblib", framework=trained.framework,
            description=f"PyCaret {trained.model_id} on {len(training)} training rows",
            metrics=trained.metrics, stage=args.stage,
            # The metrics were scored on the whole testing split: monitoring compares production with them.
            holdout=HoldoutWindow(split=HoldoutSplit.testing, rows=len(testing)),
        )
        line = (f"trained {trained.model_name} ({trained.model_id}) in {trained.seconds:.1f}s; "
                f"uploaded {algorithm.name} v{algorithm.version}")
        if args.assign:
            assignment = AlgorithmRef(name=name, version=algorithm.version)
            await qm.update_service(args.assign, ServiceUpdate(algorithm=assignment))
            line += f"; assigned to {args.assign}"
        scores = ", ".join(f"{k} {v:.4g}" for k, v in trained.metrics.items() if isinstance(v, float))
        return f"{line}\nholdout ({len(testing)} testing rows): {scores}"


def run(args: argparse.Namespace) -> int:
    qm_url = args.qm_url or service_url("QUEUE_MANAGER")
    ml_url = args.ml_url or service_url("ML_DATA_API")
    token = args.token or write_token()
    code, summary = run_api(train(args, qm_url, ml_url, token))
    if summary:
        print(summary)
    return code
