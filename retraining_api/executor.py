"""`python -m retraining_api.executor`: the process that runs retraining runs and builds explainers.

It is the composition root of the executor (`serve`): one store, one client per peer service, four
loops (runs, explainer builds, stale-work sweeper, label counts of waiting runs). Runs go one at a time per executor
(and per dataset across executors); an explainer build may go alongside a run.
On SIGTERM/SIGINT the work in hand goes back to the queue for the next executor,
since PyCaret cannot be interrupted cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from conveyor.api.errors import NotFound
from conveyor.clients.peers import PeerClients
from conveyor.lookups import dataset_schema
from conveyor.pg import Database
from conveyor.schemas.retraining import EvaluateOn, RunCreate
from conveyor.settings import settings_or_exit
from conveyor.signals import stop_on_signals
from conveyor.tables import StartupTables
from conveyor.training import load_model
from retraining_api import data, runner
from retraining_api.explainer import build_html
from retraining_api.settings import Settings, load_settings
from retraining_api.store import DDL, RunStore

log = logging.getLogger("retraining_api.executor")


# Runs upload and download model files: a client waits longer than the API's.
PEER_TIMEOUT = 300.0


class Executor:
    def __init__(self, settings: Settings, store: RunStore, tables: StartupTables, peers: PeerClients,
                 stopping: asyncio.Event | None = None) -> None:
        self.settings = settings
        self.store = store
        self.tables = tables
        self.peers = peers
        # Unique per start: a restarted container keeps its hostname and often its pid, and the sweeper spares
        # its own executor's work, so a name reused after a crash would keep the dead run running.
        self.name = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.stopping = stopping or asyncio.Event()  # set by SIGTERM/SIGINT, or by whoever passed it
        self.current_run: int | None = None
        self.current_explainer: str | None = None

    async def _take_work(self, claim: Callable[[str], dict[str, Any] | None],
                         handle: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Claim work of one kind and handle it, one piece at a time, until the executor stops."""
        while not self.stopping.is_set():
            try:
                work = await asyncio.to_thread(claim, self.name)
            except Exception as exc:  # store down: work waits, nothing is lost
                log.warning("cannot claim work: %s", exc)
                await self._pause(5)
                continue
            if work is None:
                await self._pause()
                continue
            await handle(work)

    async def run_loop(self) -> None:
        await self._take_work(self.store.claim_run, self._execute_run)

    async def _execute_run(self, run: dict[str, Any]) -> None:
        self.current_run = run["id"]
        log.info("run %s claimed: %s/%s", run["id"], run["dataset"], run["algorithm"])
        await runner.execute(run, self.settings, self.store, self.peers)
        self.current_run = None

    async def explainer_loop(self) -> None:
        await self._take_work(self.store.claim_explainer, self._build_explainer)

    async def _build_explainer(self, job: dict[str, Any]) -> None:
        self.current_explainer = job["key"]
        html, error = None, None
        beat = asyncio.create_task(self._beat_explainer(job["key"]))
        try:
            html = await self._explain(job)
        except Exception as exc:  # the build ends as failed with the reason
            error = f"{type(exc).__name__}: {exc}"
            log.warning("explainer %s failed: %s", job["key"], error)
        finally:
            beat.cancel()
        await asyncio.to_thread(self.store.finish_explainer, job["key"], html, error)
        self.current_explainer = None

    async def _beat_explainer(self, key: str) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            with suppress(Exception):
                await asyncio.to_thread(self.store.heartbeat_explainer, key)

    async def _explain(self, job: dict[str, Any]) -> str:
        qm, ml = self.peers.queue_manager, self.peers.ml_data
        algorithm = await data.resolve_version(qm, job["model_name"], job["version"])
        schema = await dataset_schema(qm, algorithm.dataset)
        evaluate_on = EvaluateOn(job["evaluate_on"])
        rows = await data.evaluation_frame(ml, schema, evaluate_on, job["rows"])
        if rows.empty and evaluate_on is EvaluateOn.production:
            rows = await data.unlabelled_production(ml, schema, job["rows"])
        if rows.empty:
            raise ValueError(f"dataset {schema.name!r} has no {evaluate_on.value} rows to explain the model on")
        content = await qm.download_algorithm(algorithm.name, algorithm.version)
        # A pickle's code runs here, in the executor: only where MODEL_ALLOW_PICKLE allows it.
        pipeline = await asyncio.to_thread(load_model, content, algorithm.file.filename,
                                           f"model {algorithm.name} v{algorithm.version}")
        title = f"{algorithm.name} v{algorithm.version} on {len(rows)} {evaluate_on.value} rows"
        return await asyncio.to_thread(build_html, pipeline, rows, schema, title)

    async def stale_loop(self) -> None:
        while not self.stopping.is_set():
            with suppress(Exception):
                failed = await asyncio.to_thread(self.store.fail_stale, self.settings.stale_seconds,
                                                  self.name)
                if failed:
                    log.warning("runs %s failed: their executor stopped sending heartbeats", failed)
            await self._pause(max(self.settings.stale_seconds / 4, 1.0))

    async def waiting_loop(self) -> None:
        """Runs waiting for labels: recounted every few seconds, queued once they have what they need."""
        while not self.stopping.is_set():
            try:
                waiting = await asyncio.to_thread(self.store.waiting_runs)
            except Exception as exc:  # store down: the runs wait on
                log.warning("cannot list the runs waiting for labels: %s", exc)
                waiting = []
            for run in waiting:
                await self._recount(run)
            await self._pause(self.settings.label_poll_seconds)

    async def _recount(self, run: dict[str, Any]) -> None:
        request = RunCreate(**run["request"])
        waiting = run["waiting"] or {}
        need = int(waiting.get("need") or request.wait_for_labels or 0)
        try:
            schema = await dataset_schema(self.peers.queue_manager, run["dataset"])
            have = await data.count(self.peers.ml_data, schema, data.labels_spec(request))
        except NotFound as exc:  # the dataset went away: the labels never will come
            await asyncio.to_thread(self.store.finish_run, run["id"], "failed",
                                    error=f"stopped waiting for labels: {exc}")
            return
        except Exception as exc:  # a passing fault: counted again at the next poll
            log.warning("run %s: cannot count its labelled rows: %s", run["id"], exc)
            return
        queue = have >= need
        if have == waiting.get("have") and not queue:
            return
        if await asyncio.to_thread(self.store.count_labels, run["id"], have, queue) and queue:
            log.info("run %s queued: %d labelled rows since %s (needs %d)", run["id"], have,
                     waiting.get("since"), need)

    async def _pause(self, seconds: float | None = None) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds or self.settings.poll_seconds)

    def requeue_in_hand(self) -> None:
        """Stopping mid-run: the run (or build) goes back to the queue, to start over elsewhere."""
        if self.current_run is not None:
            self.store.update_run(self.current_run, status="queued", stage="queued", percent=0, executor=None,
                                  started_at=None, log_tail=[f"requeued: executor {self.name} stopped"])
            log.warning("run %s requeued: this executor is stopping", self.current_run)
        if self.current_explainer is not None:
            self.store.requeue_explainer(self.current_explainer)

    async def serve(self) -> None:
        stop_on_signals(self.stopping)
        # The database may come up after us.
        await self.tables.run_until_done(stop=self.stopping)
        log.info("executor %s waiting for runs", self.name)
        tasks = [asyncio.create_task(loop_()) for loop_ in (self.run_loop, self.explainer_loop, self.stale_loop,
                                                               self.waiting_loop)]
        await self.stopping.wait()
        if self.current_run is not None or self.current_explainer is not None:
            with suppress(Exception):
                self.requeue_in_hand()
            # PyCaret's thread cannot be cancelled; leave without waiting for it.
            logging.shutdown()
            os._exit(0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def serve(settings: Settings, stopping: asyncio.Event | None = None) -> None:
    """The composition root: one database pool and one client per peer for the executor's life."""
    db = Database(settings.database_url, settings.pool_size)
    peers = PeerClients.open(settings, queue_manager_timeout=PEER_TIMEOUT, ml_data_timeout=PEER_TIMEOUT)
    try:
        tables = StartupTables(db, "retraining_tables", DDL)
        await Executor(settings, RunStore(db), tables, peers, stopping).serve()
    finally:
        await peers.aclose()
        db.close()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(serve(settings_or_exit(load_settings)))


if __name__ == "__main__":
    main()
