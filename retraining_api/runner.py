"""One retraining run, start to end, inside the executor process.

Stages: load data → PyCaret (setup, compare, finalize) → score both models on the same
holdout rows → register the new version → decide on auto-promotion. Whatever goes
wrong ends the run as failed with the error; the heartbeat keeps it from looking stuck.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from contextlib import suppress
from typing import Any

from conveyor.clients.peers import PeerClients
from conveyor.lookups import dataset_schema
from conveyor.model_files import UnloadableModel
from conveyor.schemas.retraining import RunCreate
from conveyor.training import dump_model, evaluate, load_model, train_model
from conveyor.training.artifacts import PIPELINE_SUFFIX
from retraining_api import data
from retraining_api.promotion import decide, promote
from retraining_api.settings import Settings
from retraining_api.store import RunStore

log = logging.getLogger(__name__)
LOG_TAIL = 200
# Loggers whose lines a run shows as its log tail (PyCaret logs through conveyor.pycaret).
RUN_LOGGERS = ("conveyor.pycaret", "conveyor.training", __name__)


class RunFailed(Exception):
    """A run cannot go on; the message says why and what to do."""


class RunLog(logging.Handler):
    """The last lines logged while a run works, kept for its status."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: deque[str] = deque(maxlen=LOG_TAIL)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        with suppress(Exception):
            self.lines.append(self.format(record)[:1000])

    def __enter__(self) -> RunLog:
        for name in RUN_LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in RUN_LOGGERS:
            logging.getLogger(name).removeHandler(self)


class RunReporter:
    """Stage and percent, written through from any thread (PyCaret reports from a worker thread)."""

    def __init__(self, store: RunStore, run_id: int, run_log: RunLog) -> None:
        self.store, self.run_id, self.run_log = store, run_id, run_log

    def __call__(self, stage: str, percent: float) -> None:
        log.info("run %s: %s (%.0f%%)", self.run_id, stage, percent)
        self.store.report_progress(self.run_id, stage=stage, percent=percent, log_tail=list(self.run_log.lines))

    def flush(self) -> None:
        self.store.report_progress(self.run_id, log_tail=list(self.run_log.lines))


async def _heartbeat(reporter: RunReporter, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        with suppress(Exception):  # a missed beat is harmless; a store outage shows up elsewhere
            await asyncio.to_thread(reporter.flush)


async def execute(run: dict[str, Any], settings: Settings, store: RunStore, peers: PeerClients) -> None:
    run_id = run["id"]
    with RunLog() as run_log:
        reporter = RunReporter(store, run_id, run_log)
        beat = asyncio.create_task(_heartbeat(reporter, settings.heartbeat_seconds))
        try:
            fields = await _work(run_id, RunCreate(**run["request"]), settings, store, peers, reporter)
            log.info("run %s finished: %s", run_id, fields["decision"]["reason"])
            store.finish_run(run_id, "finished", stage="finished", percent=100, log_tail=list(run_log.lines),
                             **fields)
        except Exception as exc:  # every failure ends the run, with the error, never left running
            message = str(exc) if isinstance(exc, RunFailed) else f"{type(exc).__name__}: {exc}"
            log.warning("run %s failed: %s", run_id, message)
            store.finish_run(run_id, "failed", error=message[:4000], log_tail=list(run_log.lines))
        finally:
            beat.cancel()
            with suppress(asyncio.CancelledError):
                await beat


async def _work(run_id: int, request: RunCreate, settings: Settings, store: RunStore, peers: PeerClients,
                reporter: RunReporter) -> dict[str, Any]:
    qm, ml = peers.queue_manager, peers.ml_data
    reporter("loading data", 2)
    schema = await dataset_schema(qm, request.dataset)
    previous = data.current_version(await data.versions_of(qm, request.algorithm))
    if previous is None and not request.new_model:
        raise RunFailed(f"model {request.algorithm!r} has no versions to retrain; pass new_model=true "
                        "to train its first version")
    if previous is not None and previous.dataset != schema.name:
        raise RunFailed(f"model {request.algorithm!r} belongs to dataset {previous.dataset!r}, "
                        f"not {schema.name!r}")
    holdout = await data.holdout_frame(ml, schema, request.holdout, settings.evaluate_row_cap, request.service)
    training = data.without_holdout(
        await data.training_frame(ml, schema, request.training, settings.max_training_rows, request.service),
        holdout)
    if training.empty:
        raise RunFailed("no training rows left (the window is empty or every row is in the holdout)")
    if holdout.empty:
        raise RunFailed("the holdout has no labelled rows")
    store.update_run(run_id, previous_version=previous.version if previous else None,
                     training_rows=len(training), holdout_rows=len(holdout))
    log.info("training on %d rows, holdout %d rows, previous version %s",
             len(training), len(holdout), previous.version if previous else None)
    previous_model = None
    if previous is not None:
        # A pickle's code runs here, in the executor: only where MODEL_ALLOW_PICKLE allows it.
        content = await qm.download_algorithm(previous.name, previous.version)
        try:
            previous_model = await asyncio.to_thread(load_model, content, previous.file.filename,
                                                     f"the previous version, model {previous.name} v{previous.version}")
        except UnloadableModel as exc:
            raise RunFailed(f"{exc}; it is needed to compare the new model with") from exc

    started = time.perf_counter()
    trained = await asyncio.to_thread(train_model, training, holdout, schema, request.include,
                                      request.budget_seconds, request.seed, reporter)
    reporter("scoring the previous model", 92)
    previous_results = None
    if previous_model is not None:
        name = previous.metrics.get("Model") if previous else None
        previous_results = await asyncio.to_thread(evaluate, previous_model, holdout, schema, None, name)

    reporter("registering", 96)
    # joblib, not skops: skops cannot save PyCaret pipelines in general (conveyor/training/artifacts.py).
    description = (f"retrained by run {run_id}: PyCaret {trained.model_id} on {len(training)} "
                   f"{request.training.source.value} rows")
    algorithm = await qm.upload_algorithm(
        name=request.algorithm, dataset=schema.name, model=dump_model(trained.pipeline),
        filename=f"{request.algorithm}{PIPELINE_SUFFIX}", config=trained.config,
        config_filename=f"{request.algorithm}_config.joblib", framework=trained.framework,
        description=description, metrics=trained.metrics, stage="staging",
        holdout=data.holdout_window(holdout, schema, request.holdout.source, request.service),
    )
    decision = decide(request.auto_promote, request.margin, schema.task, trained.metrics, previous_results,
                      run_id)
    promoted = False
    if decision.promoted:
        reporter("promoting", 98)
        promotion = await promote(qm, request.algorithm, algorithm.version,
                                  reason=f"auto-promoted by run {run_id}", run_id=run_id)
        decision.reason += f"; services moved: {', '.join(promotion.services) or 'none'}"
        promoted = True
    log.info("run %s trained %s in %.1fs", run_id, trained.model_name, time.perf_counter() - started)
    return {
        "new_version": algorithm.version,
        "comparison": {"retrained_model_results": trained.metrics,
                       "previous_model_results": previous_results},
        "decision": decision.model_dump(mode="json"),
        "promoted": promoted,
    }
