"""`python -m conveyor.model_check_server`: the parent of queue_manager's model-check processes, with the heavy
modules imported once.

Started by conveyor.model_check (one per queue_manager process, on its first upload), never by hand. A check's
cost was mostly a fresh interpreter importing pandas, scikit-learn, skops and PyCaret (1.3 to 4.5 s of CPU per
upload); this process imports them once, then forks one fresh process per check. It never loads an uploaded file
itself: the file is loaded only in the forked process, which then exits.

ISOLATION AND LIMITS ARE EXACTLY AS STRONG AS A FRESH `python -m conveyor.model_check_child` PER CHECK:
- This server is started by exec, not forked from queue_manager, with the same stripped environment a check
  process had (conveyor.model_check._child_environment: no tokens, no database addresses), so neither its memory
  nor /proc/self/environ holds anything of queue_manager's; the forked check gets its own HOME, TMPDIR and log
  paths as before.
- Each check is a fork: a copy-on-write copy of this server, so what an uploaded file does (patching a module,
  filling memory, crashing) stays in that copy and no later check sees it; the server itself never runs a
  file's code.
- The check leads its own session (os.setsid), so queue_manager's MODEL_CHECK_SECONDS kill of its process group
  takes whatever the file started, as before; it runs in its own empty directory with stdin on /dev/null,
  stdout and stderr in its output file, and every other descriptor (this server's pipes, PyCaret's log) closed.
- The memory, file-size and core limits are set by conveyor.model_check_child.main in the check before the file
  is read, as before. RLIMIT_AS counts the address space the check inherits with the pre-imported modules, as the
  fresh process counted them once it had imported them: a check can use no more than before.

Protocol, one JSON object a line. In on stdin: {"id": n, "workdir": "..."}. Out on stdout: {"id": n, "pid": p}
once the check is forked, then {"id": n, "returncode": r} when it has exited (negative: killed by signal -r,
as subprocess says). End of stdin (queue_manager gone) ends the server and the checks still running.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import select
import shutil
import signal
import sys
import tempfile
import traceback
from contextlib import suppress
from typing import NoReturn

DIRECTORY_PREFIX = "conveyor-model-check-server-"  # the name of the directory conveyor.model_check_launcher makes

# What loading and predicting a model imports, and a fresh check process imported each time. What every check
# needs is imported before the first one (a stack with a single upload pays no more than a fresh process did);
# the rest - scikit-learn's estimators (skops.io imports every one, to know which it trusts) and PyCaret's
# pipeline and transformers (what the platform's own retraining runs save) - while no check runs, one module at a
# time, so a request waits at most for one import.
PRELOAD = ("numpy", "pandas", "joblib", "sklearn.base", "conveyor.model_files", "conveyor.schemas.datasets",
           "conveyor.model_check_child")
PRELOAD_WHEN_IDLE = ("scipy", "sklearn.pipeline", "sklearn.linear_model", "skops.io", "pycaret.internal.pipeline",
                     "pycaret.internal.preprocess.transformers")


def _preload(name: str) -> None:
    try:
        importlib.import_module(name)
    except Exception as exc:  # an optional package missing: the check imports what it needs itself
        print(f"model check server: not preloaded {name}: {type(exc).__name__}: {exc}", file=sys.stderr)


def _send(fd: int, message: dict[str, object]) -> None:
    os.write(fd, (json.dumps(message) + "\n").encode())


def _repoint_log_files(workdir: str) -> None:
    """Log files opened by the imports (PyCaret's, in this server's directory) are the check's own from now on, in
    its directory, as a fresh process would have opened them: closed here, reopened on the first record."""
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", ()):
            if isinstance(handler, logging.FileHandler):
                if handler.stream is not None:
                    with suppress(OSError):
                        handler.stream.close()
                    handler.stream = None
                handler.baseFilename = os.path.join(workdir, os.path.basename(handler.baseFilename))


def _close_other_descriptors() -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            with suppress(OSError):
                os.close(fd)


def _become_check(workdir: str) -> int:
    """In the forked process: the isolation a fresh check process had, then the check itself."""
    os.setsid()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    output = os.open(os.path.join(workdir, "output.txt"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(devnull, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    _repoint_log_files(workdir)
    _close_other_descriptors()
    os.chdir(workdir)
    os.environ.update({"HOME": workdir, "TMPDIR": workdir, "MPLCONFIGDIR": workdir,
                       "PYCARET_CUSTOM_LOGGING_PATH": os.path.join(workdir, "pycaret.log")})
    tempfile.tempdir = None  # next asked, it is read from TMPDIR again
    with suppress(OSError), open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the peak resident memory reported is the check's, not this server's imports
    from conveyor import model_check_child

    return model_check_child.main(["model_check_child", workdir])


def _run_check(workdir: str) -> NoReturn:
    """The forked process never returns into the server's loop: it exits with the status the check process had
    (a traceback and 1 for an exception, as the interpreter does)."""
    code = 1
    try:
        code = _become_check(workdir)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:
        with suppress(Exception):
            traceback.print_exc()
    finally:
        with suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _fork_check(workdir: str) -> int:
    pid = os.fork()
    if pid == 0:
        _run_check(workdir)
    return pid


def _reap(running: dict[int, int], out: int) -> None:
    while running:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        request = running.pop(pid, None)
        if request is not None:
            _send(out, {"id": request, "returncode": os.waitstatus_to_exitcode(status)})


def _stop(running: dict[int, int]) -> None:
    for pid in running:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def serve() -> None:
    # The protocol gets descriptors of its own: whatever an import prints goes to the log, not into the protocol.
    requests, out = os.dup(0), os.dup(1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    for name in PRELOAD:
        _preload(name)
    idle_preloads = list(PRELOAD_WHEN_IDLE)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that the wakeup descriptor hears of exits
    signal.set_wakeup_fd(wake_write)
    running: dict[int, int] = {}
    pending = b""
    try:
        while True:
            idle = bool(idle_preloads) and not running
            readable, _, _ = select.select([requests, wake_read], [], [], 0 if idle else None)
            if not readable and idle:
                _preload(idle_preloads.pop(0))
                continue
            if wake_read in readable:
                os.read(wake_read, 4096)
            _reap(running, out)
            if requests not in readable:
                continue
            data = os.read(requests, 65536)
            if not data:
                return
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    request = json.loads(line)
                    pid = _fork_check(str(request["workdir"]))
                    running[pid] = int(request["id"])
                    _send(out, {"id": request["id"], "pid": pid})
            _reap(running, out)
    finally:
        _stop(running)
        _remove_own_directory()


def _remove_own_directory() -> None:
    """The directory queue_manager made for this server (its cwd): removed here too, since a queue_manager stopped
    by a signal does not run its exit handlers."""
    directory = os.getcwd()
    if os.path.basename(directory).startswith(DIRECTORY_PREFIX):
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    serve()
