"""`conveyor demo-drift`: inject the demo's sensor fault into a running demo, and follow the loop it starts.

The running demo owns its processes, so this command asks it by a file in the demo's state directory
(`demo_drift.json`); the demo stops its undrifted data source and starts a second one with
`--drift-features`, since a real sensor fault affects every row: a window half of faulty rows and half
of good ones would show half the shift, and a model retrained on such a mix learns neither relation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from conveyor.clients import APIError, APIUnavailable, MLDataClient, MonitoringClient, RetrainingClient
from conveyor.schemas.retraining import RunStatus
from conveyor_tools import devstack, localenv
from conveyor_tools.demo_dataset import (
    DEMO_DATASET,
    DEMO_DRIFT_FEATURES,
    DEMO_DRIFT_SHIFT,
    DEMO_SERVICE,
    prediction_shift,
    shift_in_stds,
)

REQUEST_FILE = "demo_drift.json"  # written by `conveyor demo-drift`, taken (and removed) by the running demo
STARTED_FILE = "demo_drift_started.json"  # what the demo started, for `demo-drift --follow`


@dataclass(frozen=True)
class DriftRequest:
    features: tuple[str, ...] = DEMO_DRIFT_FEATURES
    shift: float = DEMO_DRIFT_SHIFT

    def data_source_args(self) -> list[str]:
        return ["--drift-features", ",".join(self.features), "--drift-shift", f"{self.shift:g}"]

    def describe(self) -> str:
        stds = ", ".join(f"{name} {self.shift:+g} ({s:+.1f} std)" for name, s in shift_in_stds(
            self.features, self.shift).items())
        return (f"{stds}; the quality formula moves {prediction_shift(self.features, self.shift):+.0f}, "
                "the true quality does not")


def request_path(state_dir: Path) -> Path:
    return state_dir / REQUEST_FILE


def take_request(state_dir: Path) -> DriftRequest | None:
    """The demo's side: a waiting request, removed once read (a broken one is removed and reported)."""
    path = request_path(state_dir)
    if not path.exists():
        return None
    try:
        body = json.loads(path.read_text())
        return DriftRequest(features=tuple(body["features"]), shift=float(body["shift"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a drift request ({exc}): removed") from exc
    finally:
        path.unlink(missing_ok=True)


def record_started(state_dir: Path, request: DriftRequest, run_id: str) -> None:
    body = {**asdict(request), "run_id": run_id, "at": datetime.now(UTC).isoformat()}
    (state_dir / STARTED_FILE).write_text(json.dumps(body))


def register(sub: argparse._SubParsersAction, words: Sequence[str] = ()) -> None:
    p = sub.add_parser("demo-drift", help="inject a sensor fault into the running demo and follow the loop")
    p.add_argument("--features", default=",".join(DEMO_DRIFT_FEATURES),
                   help="comma-separated sensors the fault shifts (default: four whose effect on quality adds up)")
    p.add_argument("--shift", type=float, default=DEMO_DRIFT_SHIFT, help="added to each reading, in its units")
    p.add_argument("--follow", action="store_true",
                   help="then print the loop as it happens (episode, run, promotion, error before and after)")
    p.add_argument("--follow-minutes", type=float, default=10.0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    values = localenv.read(devstack.STATE_DIR / "demo.env")
    qm = values.get("QUEUE_MANAGER_URL", "")
    if not qm or not devstack.port_open("127.0.0.1", int(qm.rsplit(":", 1)[-1])):
        raise SystemExit("no demo is running: start one with `make demo` (or `conveyor demo`), then run this again")
    features = tuple(f.strip() for f in args.features.split(",") if f.strip())
    unknown = sorted(set(features) - {f.name for f in DEMO_DATASET.features})
    if unknown or not features:
        raise SystemExit(f"--features {unknown or 'empty'}: choose among {[f.name for f in DEMO_DATASET.features]}")
    request = DriftRequest(features=features, shift=args.shift)
    path, started = request_path(devstack.STATE_DIR), devstack.STATE_DIR / STARTED_FILE
    started.unlink(missing_ok=True)  # the demo writes it again once the faulty source runs
    path.write_text(json.dumps(asdict(request)))
    deadline = time.monotonic() + 30
    while not started.exists():
        if time.monotonic() > deadline:
            path.unlink(missing_ok=True)
            raise SystemExit("the demo did not start the faulty data source within 30 s: is it a demo from before "
                             f"this command? (its logs: {devstack.STATE_DIR / 'logs'})")
        time.sleep(0.2)
    print(f"sensor fault injected: {request.describe()}.\nThe demo stopped its data source; a second one "
          f"streams the faulty readings (demo logs: {devstack.STATE_DIR / 'logs'}).")
    if args.follow:
        asyncio.run(follow(values, args.follow_minutes * 60))
    else:
        print("Watch it close the loop: `conveyor demo-drift --follow` prints it, the dashboards show it.")
    return 0


class LoopFollower:
    """Prints each change of the loop: drift episode, triggered run and its states, promotion, errors."""

    def __init__(self, started: dict[str, Any], monitoring: MonitoringClient, retraining: RetrainingClient,
                 ml: MLDataClient) -> None:
        self.fault_prefix = f"{started['run_id']}-"  # the faulty rows' record ids
        self.since = datetime.fromisoformat(started["at"])
        self.monitoring, self.retraining, self.ml = monitoring, retraining, ml
        self.said: set[str] = set()

    def say(self, key: str, line: str) -> None:
        if key not in self.said:
            self.said.add(key)
            print(f"{datetime.now():%H:%M:%S}  {line}", flush=True)

    async def step(self) -> bool:
        """One look; True when the loop is done (the new version's error measured, or the run failed)."""
        episodes = await self.monitoring.episodes(service=DEMO_SERVICE, kind="drift_detected")
        for e in episodes.items:
            if e.started_at >= self.since:
                self.say(f"episode {e.id}", f"drift episode {e.id} opened at {e.started_at:%H:%M:%S} "
                                            f"(features {', '.join(e.features)})")
        runs = [r for r in await self.retraining.list_runs(dataset=DEMO_DATASET.name, since=self.since.isoformat())
                if r.trigger]
        if not runs:
            return False
        run = runs[0]  # newest first
        count = f" ({run.waiting.have}/{run.waiting.need} labelled post-drift rows)" if run.waiting else ""
        self.say(f"run {run.id} {run.status}", f"run {run.id}: {run.status.value}{count}")
        if run.status in (RunStatus.failed, RunStatus.cancelled):
            print(f"  error: {run.error}")
            return True
        if run.status is not RunStatus.finished:
            return False
        if run.decision:
            self.say(f"decision {run.id}", f"v{run.new_version}: {run.decision.reason}")
        if not run.promoted:
            return True
        page = await self.ml.rows(DEMO_DATASET.name, "production", service=DEMO_SERVICE, labeled="true",
                                  start=self.since.isoformat(), limit=10_000)
        faulty = [r for r in page.rows if str(r["record_id"]).startswith(self.fault_prefix)]
        old = [r for r in faulty if r["model_version"] == run.previous_version]
        new = [r for r in faulty if r["model_version"] == run.new_version]
        if new:
            self.say("swap", f"workers predict with v{run.new_version}")
        if len(new) < 200:
            return False
        print(f"{datetime.now():%H:%M:%S}  MAE on faulty rows: v{run.previous_version} {_mae(old):.1f} "
              f"({len(old)} rows) -> v{run.new_version} {_mae(new):.1f} ({len(new)} rows)", flush=True)
        return True


def _mae(rows: list[dict[str, Any]]) -> float:
    return float(np.mean([abs(r["prediction"] - r["label"]) for r in rows])) if rows else float("nan")


async def follow(values: dict[str, str], seconds: float) -> None:
    started = json.loads((devstack.STATE_DIR / STARTED_FILE).read_text())
    # It only reads (episodes, runs, rows): the read token, or the write token of a demo from before it.
    token = values.get("API_READ_TOKEN") or values.get("API_TOKEN", "")
    deadline = time.monotonic() + seconds
    async with (MonitoringClient(values["MONITORING_API_URL"], token) as monitoring,
                RetrainingClient(values["RETRAINING_API_URL"], token) as retraining,
                MLDataClient(values["ML_DATA_API_URL"], token, timeout=60) as ml):
        follower = LoopFollower(started, monitoring, retraining, ml)
        while time.monotonic() < deadline:
            try:
                if await follower.step():
                    return
            except (APIError, APIUnavailable) as exc:
                print(f"  (asking the demo failed: {exc}; trying again)")
            await asyncio.sleep(2)
    print(f"the loop did not finish within {seconds / 60:g} minutes: see the dashboards and the demo's logs")
