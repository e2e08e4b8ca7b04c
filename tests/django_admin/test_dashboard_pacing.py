"""Every dashboard's refreshes are paced (pacing.py): no fixed refresh is left, each refreshing callback owns the
pace of its own interval, and a slow platform lengthens the monitoring and retraining dashboards' intervals.

The dashboards are loaded with the admin's own settings in a process of their own (pacing_probe.py): other tests
of this folder configure bare Django settings in theirs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("pacing_probe.py"))], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("dashboard", ["main", "pipeline", "monitoring", "retraining"])
def test_each_refreshing_callback_owns_a_gated_interval_and_its_watchdog(probe: dict[str, Any],
                                                                         dashboard: str) -> None:
    app = probe["apps"][dashboard]
    intervals = {i["id"]: i for i in app["intervals"]}
    gated = {name for name, i in intervals.items() if i["max_intervals"] == 0}
    watchdogs = {f"{name}-watchdog" for name in gated}
    # No fixed refresh left: each interval is a gate closed until the first answer, or a gate's watchdog.
    assert gated and set(intervals) == gated | watchdogs, intervals
    owners: dict[str, list[str]] = {name: [] for name in gated}
    for callback in app["callbacks"]:
        ticks = {i.split(".")[0] for i in callback["inputs"] if i.endswith(".n_intervals")}
        if not ticks:
            continue
        (gate,) = {t.removesuffix("-watchdog") for t in ticks}  # one pace per callback
        assert ticks == {gate, f"{gate}-watchdog"}, callback
        assert {f"{gate}.interval", f"{gate}.max_intervals", f"{gate}-watchdog.interval"} <= set(
            callback["outputs"]), f"{callback['name']} is triggered by {gate} but does not set its pace"
        owners[gate].append(callback["name"])
    assert all(len(names) == 1 for names in owners.values()), f"one callback per paced interval: {owners}"


def test_a_slow_platform_lengthens_the_monitoring_and_retraining_refreshes(probe: dict[str, Any]) -> None:
    slow = probe["slow_ms"]
    assert set(probe["paces"]) == {"monitoring.services", "monitoring.checks_panel", "monitoring.challenger_panel",
                                   "monitoring.episodes_panel", "retraining.models", "retraining.refresh_runs",
                                   "retraining.run_panel"}
    for name, answer in probe["paces"].items():
        interval_ms, max_intervals, watchdog_ms = answer["pace"]
        # Each asked its slow API at least once: the next tick waits twice that, above the 1 s configured.
        assert interval_ms >= 2 * slow > 1000, (name, answer)
        assert interval_ms <= 2 * answer["took_ms"] + 1, (name, answer)  # its own duration, not a guess
        assert max_intervals == 5, "the gate opens for exactly one tick after tick 4"
        assert watchdog_ms >= 3 * interval_ms
