"""schemathesis on every operation of every API, with the write token, against a live throwaway stack: no
server error and no answer that contradicts the OpenAPI.

Pinned and bounded: a fixed seed and a small fixed number of examples per operation, one worker per API and the
APIs run side by side (each a schemathesis process; they wait on the services, not on the CPU), no example
database (nothing is written outside the test's temporary directory). A failure shows what schemathesis
printed for the API that failed: the operation, the answer and a curl line reproducing it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conveyor_tools.stack import Stack
from tests.fuzz_stack import APIS, api_url, running_stack, seed

SEED = 1
MAX_EXAMPLES = 5
# The whole run's limit, for a hung one: it takes one to five minutes here, depending on what else runs.
TIMEOUT = 600
# An upload waits for queue_manager's model check (MODEL_CHECK_SECONDS, two at a time): as long as the
# platform's own client waits for one.
REQUEST_TIMEOUT = 180
CHECKS = "not_a_server_error,response_schema_conformance"
# queue_manager has three times the operations of the others: its services and the rest run as two parts, so
# that it does not finish long after them.
PARTS = {
    "queue_manager (services)": ("queue_manager", ["--include-path-regex", "^/queue_manager/services"]),
    "queue_manager": ("queue_manager", ["--exclude-path-regex", "^/queue_manager/services"]),
    **{api: (api, []) for api in APIS if api != "queue_manager"},
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack() as s:
        seed(s)
        yield s


def schemathesis_command(url: str, token: str, report: Path, extra: list[str]) -> list[str]:
    return [
        str(Path(sys.executable).with_name("schemathesis")), "run", f"{url}/openapi.json",
        "--checks", CHECKS, "--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES), "-w", "1",
        "--continue-on-failure", "--generation-database", "none", "--request-timeout", str(REQUEST_TIMEOUT),
        "-H", f"Authorization: Bearer {token}", "--no-color",
        "--report", "ndjson", "--report-ndjson-path", str(report), *extra,
    ]


@dataclass
class Outcome:
    part: str
    returncode: int | None  # None: killed after TIMEOUT
    output: str
    cases: int
    failures: dict[str, set[str]]  # operation -> the kinds of failure it gave

    @property
    def passed(self) -> bool:
        return self.returncode == 0 and not self.failures

    def summary(self) -> str:
        state = "timed out" if self.returncode is None else f"exit {self.returncode}"
        found = "; ".join(f"{op}: {', '.join(sorted(kinds))}" for op, kinds in sorted(self.failures.items()))
        return f"{self.part}: {self.cases} cases, {state}, {len(self.failures)} operations failing" + (
            f" ({found})" if found else "")

    def failing_output(self) -> str:
        """What schemathesis printed from its failures on, without the progress lines before them."""
        start = min((i for i in (self.output.find(" FAILURES "), self.output.find(" ERRORS ")) if i >= 0),
                    default=0)
        text = self.output[max(0, self.output.rfind("\n", 0, start)):]
        return text if len(text) < 30_000 else text[:30_000] + "\n[... cut]"


def read_report(report: Path) -> tuple[int, dict[str, set[str]]]:
    """(cases run, operation -> failure titles) from schemathesis's ndjson events."""
    cases, failures = 0, dict[str, set[str]]()
    if not report.exists():
        return cases, failures
    for line in report.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # the last line of a run killed at TIMEOUT
            continue
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished.get("recorder", {})
        cases += len(recorder.get("cases", {}))
        for checks in recorder.get("checks", {}).values():
            for check in checks:
                if check.get("status") == "failure":
                    failure = check.get("failure_info", {}).get("failure", {})
                    operation = failure.get("operation") or recorder.get("label", "?")
                    failures.setdefault(operation, set()).add(failure.get("title") or check.get("name", "?"))
    return cases, failures


def run_parts(stack: Stack, workdir: Path) -> list[Outcome]:
    token = stack.config.api_token
    started = {}
    for part, (api, extra) in PARTS.items():
        slug = re.sub(r"\W+", "_", part).strip("_")
        report, log = workdir / f"{slug}.ndjson", workdir / f"{slug}.out"
        # cwd: schemathesis looks for a schemathesis.toml from there up and writes nothing else there.
        proc = subprocess.Popen(schemathesis_command(api_url(stack, api), token, report, extra), cwd=workdir,
                                stdout=log.open("wb"), stderr=subprocess.STDOUT)
        started[part] = (proc, report, log)
    outcomes = []
    deadline = time.monotonic() + TIMEOUT
    for part, (proc, report, log) in started.items():
        try:
            returncode: int | None = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            returncode = None
        cases, failures = read_report(report)
        outcomes.append(Outcome(part, returncode, log.read_text(errors="replace"), cases, failures))
    return outcomes


def test_no_server_error_nor_schema_violation_on_any_operation(stack: Stack, tmp_path: Path) -> None:
    outcomes = run_parts(stack, tmp_path)
    print("\n".join(o.summary() for o in outcomes))
    failed = [o for o in outcomes if not o.passed]
    assert not failed, "\n\n".join(
        [o.summary() for o in outcomes] + [f"===== {o.part} =====\n{o.failing_output()}" for o in failed])
