"""`conveyor stack --exec CMD`: run a command against a throwaway stack, then tear it down."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
from collections.abc import Sequence
from contextlib import suppress
from types import FrameType

from conveyor_tools.stack import Stack, StackConfig, export_env

log = logging.getLogger("conveyor_tools.stack")


def register(sub: argparse._SubParsersAction, words: Sequence[str] = ()) -> None:
    p = sub.add_parser(
        "stack",
        help="start a throwaway stack (free ports, fresh stores), run a command, stop it",
    )
    p.add_argument("--exec", dest="command", required=True, help="shell command to run")
    p.set_defaults(func=run)


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # Unwinds through `with stack`, so a terminated run still stops the stack and removes its state.
    raise SystemExit(128 + signum)


def _call(command: str, env: dict[str, str]) -> int:
    """Run the shell command in a process group of its own; a stop ends the whole group, not only the shell."""
    with subprocess.Popen(command, shell=True, env=env, start_new_session=True) as process:
        try:
            return process.wait()
        except BaseException:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
            raise


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with suppress(ProcessLookupError):  # the group may have ended by itself
        os.killpg(process.pid, signum)


def run(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    config = StackConfig.throwaway()
    config.admin = True  # the collection logs in to the admin site too
    stack = Stack(config)
    with stack:
        log.info("stack up: queue_manager %s, ml_data_api %s", stack.qm_url, stack.ml_url)
        rc = _call(args.command, export_env(stack))
        for component in stack.failed():
            log.error("%s died during the run:\n%s", component.name, stack.log_tail(component.name))
            rc = rc or 1
    return rc
