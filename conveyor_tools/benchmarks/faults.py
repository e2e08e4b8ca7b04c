"""Faults delay work, never lose it: records published through kills and restarts of every part, then counted.

On a throwaway stack whose RabbitMQ node and PostgreSQL cluster are the benchmark's own (private_services: it
never touches the machine's broker or database), W workers consume while N valid records plus a share of
malformed ones (every 20th by default: 5 %) are published with confirms (a record whose confirm is lost is sent
again, data_source.publisher). While they are published, one fault after another, each once the publisher has
confirmed its share of the records: kill -9 a worker and start it again; rabbitmqctl stop_app / start_app;
restart PostgreSQL; kill -9 secantusdb, queue_manager and ml_data_api, each started again on the same port and
data. Then, once the pipeline has settled, the stores are read and counted in the manner of RabbitMQ's Jepsen
checker: lost (confirmed, not stored), duplicated (a record stored or finished twice) and unexpected (stored but
never sent as a valid record) records, 0 each; finished jobs = the valid records, failed jobs = the malformed ones,
every malformed message dead-lettered, the queue empty, every worker consuming it again. Exits 1 when a check
fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aio_pika
import pymongo
from pymongo.collection import Collection

from conveyor.amqp import dead_letter_queue_name
from conveyor_tools import devstack
from conveyor_tools.benchmarks.pipeline import _positive, _rows, _setup
from conveyor_tools.benchmarks.private_services import PrivatePostgres, PrivateRabbitMQ, temp_base
from conveyor_tools.demo_dataset import DEMO_FEATURES, demo_stream
from conveyor_tools.stack import SECANTUS, Stack, StackConfig
from data_source.publisher import Publisher, PublishOptions
from data_source.records import MALFORMED_KINDS, MessageFactory

log = logging.getLogger("conveyor_tools.benchmarks.faults")
FAULTS = ("worker", "rabbitmq", "postgresql", SECANTUS, "queue_manager", "ml_data_api")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--records", type=_positive, default=20_000, help="valid records (the malformed come on top)")
    p.add_argument("--malformed-every", type=_positive, default=20,
                   help="every Nth message is malformed (20: 5 %% of the messages)")
    p.add_argument("--workers", type=_positive, default=2)
    p.add_argument("--rate", type=float, default=250.0,
                   help="messages/s published (the faults come while publishing, so it must not end too soon)")
    p.add_argument("--publishers", type=_positive, default=2)
    p.add_argument("--settle-seconds", type=float, default=900.0,
                   help="how long the pipeline may take after the last fault to store everything")
    p.add_argument("--json", default=None, help="also write the figures to this file")


@dataclass
class EveryNthMalformed(MessageFactory):
    """Malformed messages at fixed places (every Nth, the kinds in turn), so the count is known before publishing."""

    every: int = 20

    def malformed_kind(self, index: int) -> str | None:
        if (index + 1) % self.every:
            return None
        return MALFORMED_KINDS[(index // self.every) % len(MALFORMED_KINDS)]


def messages_for(valid: int, every: int) -> int:
    """The fewest messages whose valid ones (all but every `every`th) number at least `valid`."""
    if every < 2:
        raise ValueError("--malformed-every must be at least 2 (1 would make every message malformed)")
    total = valid
    while total - total // every < valid:
        total += 1
    return total


def check(sent_valid: Iterable[str], sent_malformed: Iterable[str], stored_rows: Iterable[str],
          jobs: Iterable[tuple[str, str]], dead_letters: Iterable[str], queue_depth: int,
          unconfirmed_valid: Iterable[str] = (), unconfirmed_malformed: Iterable[str] = ()) -> dict[str, Any]:
    """Count the final state against what was confirmed, like RabbitMQ's Jepsen checker.

    sent_valid / sent_malformed: record ids whose publish was confirmed; stored_rows: the record id of every
    production row; jobs: (record_id, status) of every job of the service; dead_letters: the record id
    (message_id) of every dead-lettered message; queue_depth: messages left in the service's queue;
    unconfirmed_valid / unconfirmed_malformed: ids whose publish was tried but never confirmed. As in the Jepsen
    checker such a record may arrive or not: arrived, it is `recovered`, not unexpected; missing, it is not lost
    (nobody was told it was sent), but the figures say how many there were."""
    valid, malformed = set(sent_valid), set(sent_malformed)
    maybe_valid, maybe_malformed = set(unconfirmed_valid) - valid, set(unconfirmed_malformed) - malformed
    rows = Counter(stored_rows)
    by_status: dict[str, Counter[str]] = {}
    job_count: Counter[str] = Counter()
    for record_id, status in jobs:
        by_status.setdefault(status, Counter())[record_id] += 1
        job_count[record_id] += 1
    finished, failed = by_status.get("finished", Counter()), by_status.get("failed", Counter())
    dead = Counter(dead_letters)
    recovered = set(rows) & maybe_valid
    recovered_malformed = set(failed) & maybe_malformed
    counts = {
        "sent_valid": len(valid), "sent_malformed": len(malformed),
        "unconfirmed": len(maybe_valid) + len(maybe_malformed),
        "recovered": len(recovered) + len(recovered_malformed),
        "lost": len(valid - set(rows)),
        "duplicated": sum(n - 1 for n in rows.values() if n > 1) + sum(n - 1 for n in job_count.values() if n > 1),
        "unexpected": len(set(rows) - valid - maybe_valid),
        "finished_jobs": sum(finished.values()), "failed_jobs": sum(failed.values()),
        "open_jobs": sum(n for status, c in by_status.items() if status not in ("finished", "failed")
                         for n in c.values()),
        "valid_not_finished": len(valid - set(finished)),
        "unexpected_finished_jobs": len(set(finished) - valid - maybe_valid),
        "malformed_not_failed": len(malformed - set(failed)),
        "malformed_not_dead_lettered": len(malformed - set(dead)),
        "dead_letters": sum(dead.values()),
        "dead_letters_unexpected": len(set(dead) - malformed - maybe_malformed),
        "queue_depth": queue_depth,
    }
    failures = [name for name in ("lost", "duplicated", "unexpected", "open_jobs", "valid_not_finished",
                                  "unexpected_finished_jobs", "malformed_not_failed", "malformed_not_dead_lettered",
                                  "dead_letters_unexpected", "queue_depth") if counts[name]]
    expected_finished = len(valid) + len(recovered)
    if counts["finished_jobs"] != expected_finished:
        failures.append(f"finished_jobs {counts['finished_jobs']} != valid records {expected_finished}")
    expected_failed = len(malformed) + len(recovered_malformed)
    if counts["failed_jobs"] != expected_failed:
        failures.append(f"failed_jobs {counts['failed_jobs']} != malformed records {expected_failed}")
    return {**counts, "passed": not failures, "failures": failures}


class FaultRun:
    def __init__(self, stack: Stack, rabbit: PrivateRabbitMQ, pg: PrivatePostgres, args: argparse.Namespace,
                 service: str) -> None:
        self.stack, self.rabbit, self.pg, self.args, self.service = stack, rabbit, pg, args, service
        self.faults: list[dict[str, Any]] = []
        self.exits: list[dict[str, Any]] = []  # components that exited when no fault was aimed at them
        self.faulting: set[str] = set()
        self.started = time.monotonic()

    def _worker_name(self, i: int) -> str:
        return f"{self.service}-worker-{i}"

    def start_workers(self) -> None:
        for i in range(self.args.workers):
            self.stack.start_python("worker", name=self._worker_name(i), env={
                "SERVICE_NAME": self.service, "WORKER_ID": f"w{i}",
                "MODEL_CACHE_DIR": str(self.stack.config.state_dir / "models"),
                # Faults are the point here: retries come back quickly once a part is up again.
                "RETRY_MAX_SECONDS": "2",
            })

    def _fault(self, name: str) -> str:
        self.faulting.add(self._worker_name(0) if name == "worker" else name)
        try:
            return self._inject_one(name)
        finally:
            self.faulting.clear()

    def _inject_one(self, name: str) -> str:
        if name == "worker":
            self.stack.kill(self._worker_name(0))
            self.stack.restart(self._worker_name(0))
            return "kill -9, started again"
        if name == "rabbitmq":
            return self.rabbit.stop_start_app()
        if name == "postgresql":
            self.pg.restart()
            return "pg_ctl restart -m fast"
        self.stack.kill(name)
        self.stack.restart(name)
        return "kill -9, started again on the same port and data"

    async def supervise(self, stop: asyncio.Event) -> None:
        """Start again whatever exits on its own, as compose's `restart: unless-stopped` does, and count it: a part
        that exits on a fault of another part is a finding (and a failed check), not a reason to stop counting."""
        while not stop.is_set():
            for component in list(self.stack.components):
                if component.proc.poll() is None or component.name in self.faulting:
                    continue
                self.exits.append({"component": component.name, "code": component.proc.returncode,
                                   "at_seconds": round(time.monotonic() - self.started, 1),
                                   "last_log_line": (self.stack.log_tail(component.name, 1) or "")[-300:],
                                   # The traceback that ended it: the stack's logs are removed with it.
                                   "log_tail": self.stack.log_tail(component.name, 60).splitlines()})
                log.warning("%s exited with %s on its own; starting it again", component.name,
                            component.proc.returncode)
                await asyncio.to_thread(self.stack.restart, component.name)
            try:
                await asyncio.wait_for(stop.wait(), timeout=0.5)
            except TimeoutError:
                pass

    async def inject(self, publisher: Publisher, total: int, published: asyncio.Event) -> None:
        """Each fault once the publisher has confirmed its share of the messages (or has ended: it may have given
        up on some), the next after it is over."""
        for k, name in enumerate(FAULTS, start=1):
            threshold = total * k // (len(FAULTS) + 1)
            while publisher.summary.confirmed < threshold and not published.is_set():
                await asyncio.sleep(0.2)
            at = time.monotonic()
            what = await asyncio.to_thread(self._fault, name)
            self.faults.append({"fault": name, "what": what, "at_confirmed": publisher.summary.confirmed,
                                "at_seconds": round(at - self.started, 1),
                                "seconds": round(time.monotonic() - at, 1)})
            log.info("fault %s: %s (%.1f s)", name, what, time.monotonic() - at)


def _jobs(stack: Stack, service: str) -> list[tuple[str, str]]:
    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(stack.mongodb_uri) as client:
        jobs: Collection[dict[str, Any]] = client.get_default_database()["jobs"]
        return [(doc["record_id"], doc["status"])
                for doc in jobs.find({"service": service}, {"record_id": 1, "status": 1})]


async def _queue_depth(amqp_url: str, queue: str) -> int:
    async with await aio_pika.connect_robust(amqp_url) as connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)


async def _consumers(amqp_url: str, queue: str, wanted: int, timeout: float = 60.0) -> int:
    """How many consumers the queue has, once it has `wanted` or `timeout` has passed: a worker that is up but whose
    channel was never restored after the broker's stop takes no more work, and the other workers hide it."""
    deadline = time.monotonic() + timeout
    while True:
        async with await aio_pika.connect_robust(amqp_url) as connection:
            channel = await connection.channel()
            declared = await channel.declare_queue(queue, passive=True)
            count = int(declared.declaration_result.consumer_count or 0)
        if count >= wanted or time.monotonic() > deadline:
            return count
        await asyncio.sleep(1)


async def _dead_letters(amqp_url: str, queue: str) -> list[str]:
    out: list[str] = []
    async with await aio_pika.connect_robust(amqp_url) as connection:
        channel = await connection.channel()
        dead = await channel.declare_queue(dead_letter_queue_name(queue), passive=True)
        while (message := await dead.get(fail=False, no_ack=True)) is not None:
            out.append(message.message_id or "")
    return out


async def _settle(stack: Stack, service: str, valid: int, malformed: int, amqp_url: str, deadline: float,
                  progress: Callable[[str], None]) -> bool:
    """Wait until every job is terminal and counted and the queue is empty (or the deadline passes)."""
    last = ""
    while time.monotonic() < deadline:
        jobs = await asyncio.to_thread(_jobs, stack, service)
        statuses = Counter(status for _, status in jobs)
        depth = await _queue_depth(amqp_url, service)
        now = f"finished {statuses['finished']}/{valid}, failed {statuses['failed']}/{malformed}, queue {depth}"
        if now != last:
            progress(now)
            last = now
        if statuses["finished"] >= valid and statuses["failed"] >= malformed and depth == 0:
            return True
        await asyncio.sleep(2)
    return False


async def _run(stack: Stack, rabbit: PrivateRabbitMQ, pg: PrivatePostgres, args: argparse.Namespace
               ) -> dict[str, Any]:
    service = f"faults_{uuid.uuid4().hex[:6]}"
    await _setup(stack, service, None, 0.0)
    run = FaultRun(stack, rabbit, pg, args, service)
    run.start_workers()
    deadline = time.monotonic() + 180
    while not all("consuming" in stack.log_tail(run._worker_name(i)) for i in range(args.workers)):
        if time.monotonic() > deadline:
            raise TimeoutError("the workers did not start consuming")
        await asyncio.sleep(0.2)
    total = messages_for(args.records, args.malformed_every)
    factory = EveryNthMalformed(frame=demo_stream(min(total, 20_000)), features=DEMO_FEATURES,
                                run_id=uuid.uuid4().hex[:8], every=args.malformed_every)
    publisher = Publisher(PublishOptions(service, rabbit.amqp_url, rate=args.rate, publishers=args.publishers,
                                         rows=total, keep_published_at=True), factory)
    started = time.monotonic()
    published, stop_supervising = asyncio.Event(), asyncio.Event()
    supervising = asyncio.create_task(run.supervise(stop_supervising))
    injecting = asyncio.create_task(run.inject(publisher, total, published))
    try:
        summary = await publisher.run()
    finally:
        published.set()
    published_seconds = time.monotonic() - started
    await injecting  # the last fault may outlast the publishing
    faults_seconds = time.monotonic() - started
    malformed_ids = {factory.record_id(i) for i in range(total) if factory.malformed_kind(i)}
    attempted = {factory.record_id(i) for i in range(min(total, publisher._next))}
    valid_ids = set(summary.published_at) - malformed_ids
    sent_malformed = set(summary.published_at) & malformed_ids
    settled = await _settle(stack, service, len(valid_ids), len(sent_malformed), rabbit.amqp_url,
                            time.monotonic() + args.settle_seconds, lambda text: log.info("settling: %s", text))
    settle_seconds = time.monotonic() - started - faults_seconds
    consumers = await _consumers(rabbit.amqp_url, service, args.workers)
    stop_supervising.set()
    await supervising
    for i in range(args.workers):  # stopped, so that nothing is held unacknowledged when the queue is counted
        devstack.stop_process(stack.component(run._worker_name(i)).proc)
    rows = [r["record_id"] for r in await _rows(stack, service)]
    unconfirmed = attempted - set(summary.published_at)
    counts = check(valid_ids, sent_malformed, rows, await asyncio.to_thread(_jobs, stack, service),
                   await _dead_letters(rabbit.amqp_url, service), await _queue_depth(rabbit.amqp_url, service),
                   unconfirmed_valid=unconfirmed - malformed_ids, unconfirmed_malformed=unconfirmed & malformed_ids)
    if not settled:
        counts["failures"].append(f"not settled within {args.settle_seconds:g} s of the last fault")
    counts["consumers_at_end"] = consumers
    if consumers != args.workers:
        counts["failures"].append(f"{consumers} consumer(s) of the queue at the end for {args.workers} workers "
                                  "(a worker up but not consuming takes no more work)")
    if run.exits:
        counts["failures"].append(f"{len(run.exits)} exit(s) of components no fault was aimed at "
                                  f"(started again, as compose's restart policy would): "
                                  f"{sorted({e['component'] for e in run.exits})}")
    if summary.confirmed < total:
        counts["failures"].append(f"the publisher gave up on {total - summary.confirmed} of {total} messages "
                                  "(neither confirmed nor sent again)")
    counts["passed"] = not counts["failures"]
    return {
        "messages": total, "valid": args.records, "malformed": len(malformed_ids), "workers": args.workers,
        "rate_asked": args.rate, "publish": summary.as_dict(),
        "seconds": {"publishing": round(published_seconds, 1), "to_last_fault": round(faults_seconds, 1),
                    "settling_after": round(settle_seconds, 1), "total": round(time.monotonic() - started, 1)},
        "faults": run.faults, "unplanned_exits": run.exits, "checks": counts, "passed": counts["passed"],
        "isolation": {"rabbitmq": f"private node {rabbit.node} on 127.0.0.1:{rabbit.port}",
                      "postgresql": f"private cluster on 127.0.0.1:{pg.port}"},
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.malformed_every < 2:
        raise SystemExit("--malformed-every must be at least 2 (1 would make every message malformed)")
    rabbit = PrivateRabbitMQ(temp_base("rabbitmq"))
    pg = PrivatePostgres(temp_base("postgres"))
    saved = {name: os.environ.get(name) for name in ("AMQP_URL", "POSTGRES_ADMIN_URL")}
    try:
        rabbit.start()
        pg.start()
        # Through the environment, as everything here reads them: Stack (its database, made and dropped in the
        # private cluster) and every child it starts, workers included.
        os.environ["AMQP_URL"] = rabbit.amqp_url
        os.environ["POSTGRES_ADMIN_URL"] = pg.admin_url
        config = StackConfig.throwaway()
        config.retraining = False
        config.monitoring = False
        config.extra_env = {"MONITORING_CHECK_INTERVAL_SECONDS": "0"}
        with Stack(config) as stack:
            figures = asyncio.run(_run(stack, rabbit, pg, args))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        pg.stop()
        rabbit.stop()
    if not figures["passed"]:
        # `conveyor bench` prints what run() returns and exits 0: a failed check must exit non-zero.
        text = json.dumps(figures, indent=2)
        print(text)
        if args.json:
            with open(args.json, "w") as out:
                out.write(text + "\n")
        raise SystemExit(1)
    return figures
