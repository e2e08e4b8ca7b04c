"""An uploaded model file is checked before it is accepted: loaded, asked for `.predict`, and made to predict.

THIS IS WHERE UPLOADED CODE RUNS. A pickle runs its author's code the moment it is loaded, so the file is never
loaded in queue_manager's own process: `check_model` has a separate, short-lived process
(conveyor.model_check_child's `main`) load the file with the platform's one loader (conveyor.model_files), require
`.predict`, and predict on a few rows shaped by the dataset's schema. That process is forked, one per check, by
conveyor.model_check_server, a process started once (with the environment below) that has imported pandas,
scikit-learn and PyCaret already, so a check no longer pays those imports (the isolation is the same as a fresh
interpreter's: see that module). The process has a memory limit (RLIMIT_AS, MODEL_CHECK_MEMORY_MB) and a wall-clock
limit (MODEL_CHECK_SECONDS, then it and whatever it started are killed), runs in an empty temporary directory with
none of queue_manager's environment (no tokens, no database addresses), and reports a small JSON verdict in a file.
A crash, a kill by the limits, a timeout or a file that ends the process (`os._exit(1)` on load) is a refusal with
a sentence, and queue_manager goes on answering.

This is isolation from crashes and runaway resources, not a sandbox: the process runs as queue_manager's
user, so a pickle can still do whatever that user can. Only skops files (MODEL_ALLOW_PICKLE=false) keep an
uploader's code out entirely.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import conveyor
from conveyor.model_check_launcher import CheckServerUnavailable, check_server
from conveyor.model_files import ModelFileSettings, model_file_settings
from conveyor.schemas.algorithms import ModelFormat
from conveyor.schemas.datasets import DatasetSchema, FeatureType
from conveyor.settings import MEGABYTE, MEGABYTES, Declared, load, setting

CHECK_ROWS = 5
# A check may hold up to MODEL_CHECK_MEMORY_MB; a few at once bound what uploads can take from the host.
CONCURRENT_CHECKS = 2
_slots = threading.BoundedSemaphore(CONCURRENT_CHECKS)
STDERR_TAIL = 600
KILLED_SECONDS = 10.0  # how long the server may take to report a killed check's exit


@dataclass(frozen=True)
class ModelCheckSettings(Declared, env_prefix="MODEL_CHECK_"):
    """queue_manager's check of an uploaded model file."""

    seconds: float = setting(60.0, "Longest an upload's check may take to load the file and predict; then its "
                                   "process is killed and the upload refused.")
    memory_bytes: int = setting(2048 * MEGABYTE, "Address space an upload's check process may use, in MB "
                                                 "(RLIMIT_AS; checking a PyCaret pipeline takes about 700).",
                                name="MEMORY_MB", cast=MEGABYTES)


def model_check_settings() -> ModelCheckSettings:
    return load(ModelCheckSettings)


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str  # why it was refused, a sentence ("" when accepted)
    format: ModelFormat
    model_type: str = ""  # the loaded object's class, module.qualname
    seconds: float = 0.0  # the check process's wall-clock time
    peak_rss_mb: float = 0.0  # the check process's peak resident memory (0: it did not report)
    peak_vm_mb: float = 0.0  # its peak address space, what MODEL_CHECK_MEMORY_MB limits


def check_rows(schema: DatasetSchema, count: int = CHECK_ROWS) -> list[dict[str, Any]]:
    """A few rows of plausible values per feature type (positive numbers, both booleans, short texts)."""
    def value(feature_type: FeatureType, row: int, column: int) -> Any:
        if feature_type is FeatureType.float:
            return round(1.0 + row * 0.5 + column * 0.1, 3)
        if feature_type is FeatureType.int:
            return row + 1
        if feature_type is FeatureType.bool:
            return row % 2 == 0
        return f"value_{row + 1}"

    return [{f.name: value(f.type, row, column) for column, f in enumerate(schema.features)} for row in range(count)]


def _child_environment(workdir: str) -> dict[str, str]:
    """Only what Python needs: the uploaded code gets none of queue_manager's secrets from its environment. The
    check server is started with it (`workdir` its own directory); each check then sets HOME, TMPDIR and the log
    paths to its own directory (conveyor.model_check_server)."""
    package_root = str(Path(conveyor.__file__).resolve().parent.parent)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": package_root, "HOME": workdir,
        "TMPDIR": workdir, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
        # One thread each: BLAS pools reserve address space per thread, which RLIMIT_AS counts.
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "PYCARET_CUSTOM_LOGGING_PATH": os.path.join(workdir, "pycaret.log"), "MPLCONFIGDIR": workdir,
    }


def _kill_group(pid: int) -> None:
    # The child leads its own process group: whatever the file started goes with it.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _tail(path: Path) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as f:
        f.seek(max(path.stat().st_size - STDERR_TAIL, 0))
        text = f.read().decode(errors="replace").strip()
    return f"; its last output: {text}" if text else ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def check_model(content: bytes, filename: str, schema: DatasetSchema, *, what: str | None = None,
                files: ModelFileSettings | None = None, limits: ModelCheckSettings | None = None) -> Verdict:
    """Load, `.predict` and predict `content` in a child process under the limits: the verdict, never an exception
    for anything the file does."""
    from conveyor.model_files import model_format

    files = files or model_file_settings()
    limits = limits or model_check_settings()
    what = what or f"the uploaded file {filename!r}"
    found = model_format(filename, content)
    memory_mb = limits.memory_bytes / MEGABYTE
    with _slots, tempfile.TemporaryDirectory(prefix="conveyor-model-check-") as workdir:
        directory = Path(workdir)
        (directory / "model").write_bytes(content)
        (directory / "request.json").write_text(json.dumps({
            "filename": filename, "what": what, "schema": schema.model_dump(mode="json"),
            "rows": check_rows(schema), "allow_pickle": files.allow_pickle,
            "trusted_types": list(files.trusted_types), "memory_bytes": limits.memory_bytes,
        }))
        output = directory / "output.txt"
        output.touch()  # the check's stdout and stderr
        try:
            check = check_server(_child_environment).start(workdir)
        except CheckServerUnavailable as exc:
            return Verdict(False, f"queue_manager could not start the process that checks {what}: {exc}", found)
        started = time.monotonic()
        try:
            returncode = check.wait(timeout=limits.seconds)
            if returncode is None:
                _kill_group(check.pid)
                check.wait(timeout=KILLED_SECONDS)
                return Verdict(False, f"{what} did not load and predict within {limits.seconds:g} s "
                                      "(MODEL_CHECK_SECONDS): its check process was stopped", found,
                               seconds=time.monotonic() - started)
        except CheckServerUnavailable as exc:
            return Verdict(False, f"the check of {what} was lost: {exc}", found, seconds=time.monotonic() - started)
        finally:
            _kill_group(check.pid)
        seconds = time.monotonic() - started
        verdict_file = directory / "verdict.json"
        if verdict_file.exists():
            reported = json.loads(verdict_file.read_text())
            return Verdict(bool(reported["accepted"]), str(reported["reason"]), found, str(reported["model_type"]),
                           seconds, float(reported["peak_rss_mb"]), float(reported["peak_vm_mb"]))
        if returncode < 0:
            reason = (f"the check process stopped on signal {_signal_name(-returncode)} while loading {what} (a "
                      f"crash in the file's code, or more memory than MODEL_CHECK_MEMORY_MB={memory_mb:g})")
        else:
            reason = (f"the check process exited with status {returncode} before it reported on {what}: loading "
                      "the file ended the process (a pickle whose code exits, or a crash)")
        return Verdict(False, reason + _tail(output), found, seconds=seconds)


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {**asdict(verdict), "format": verdict.format.value}
