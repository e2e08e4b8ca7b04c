"""The one backoff loop (conveyor.retry): pure logic, with delays of milliseconds."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable

import pytest

from conveyor.retry import Backoff, Stopping, retry, until_done


class Passing(Exception):
    pass


class Refusal(Exception):
    pass


def failing(*faults: BaseException, value: str = "done") -> tuple[list[int], Callable[[], Awaitable[str]]]:
    """An attempt that raises `faults` one by one, then answers `value`; counts its calls."""
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(1)
        if len(calls) <= len(faults):
            raise faults[len(calls) - 1]
        return value

    return calls, attempt


def delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    ours = [r.getMessage() for r in caplog.records if r.name == "conveyor.retry"]
    found = [re.search(r"trying again in (\S+) s", message) for message in ours]
    return [float(match.group(1)) for match in found if match]


def test_delay_doubles_up_to_the_cap_and_the_hook_sees_every_retry(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "conveyor.retry")
    calls, attempt = failing(*(Passing(f"down {i}") for i in range(5)))
    seen: list[str] = []
    result = asyncio.run(retry("store rows", attempt, backoff=Backoff(0.001, 0.004),
                               passing=(Passing,), on_retry=seen.append))
    assert result == "done" and len(calls) == 6
    assert seen == ["store rows"] * 5
    assert delays(caplog) == [0.001, 0.002, 0.004, 0.004, 0.004]
    assert all(r.levelno == logging.WARNING and "store rows failed: down" in r.getMessage() for r in caplog.records)


def test_a_refusal_is_kept_and_tried_again_at_the_longest_delay(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "conveyor.retry")
    calls, attempt = failing(Passing("down"), Refusal("422 schema changed"), Passing("down"))
    result = asyncio.run(retry("finish jobs", attempt, backoff=Backoff(0.001, 0.01),
                               passing=(Passing,), refused=(Refusal,)))
    assert result == "done" and len(calls) == 4
    assert delays(caplog) == [0.001, 0.01, 0.01]
    refused = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(refused) == 1 and "finish jobs refused: 422 schema changed" in refused[0].getMessage()


def test_refusals_are_told_apart_before_passing_faults() -> None:
    """With every Exception passing, a refusal (a subclass) still counts as a refusal."""
    seen: list[str] = []
    calls, attempt = failing(Refusal("no"))
    asyncio.run(retry("x", attempt, backoff=Backoff(0.001, 0.002), refused=(Refusal,),
                      on_retry=seen.append))
    assert len(calls) == 2 and seen == ["x"]


def test_any_other_exception_propagates_at_once() -> None:
    calls, attempt = failing(KeyError("a bug"))
    with pytest.raises(KeyError):
        asyncio.run(retry("x", attempt, backoff=Backoff(0.001, 0.002), passing=(Passing,)))
    assert len(calls) == 1


def test_a_stop_ends_the_waiting() -> None:
    async def scenario() -> int:
        stop = asyncio.Event()
        calls, attempt = failing(*(Passing() for _ in range(10)))
        # A delay of a minute: only the stop can end this wait within the test's deadline.
        with pytest.raises(Stopping, match="create jobs"):
            await asyncio.wait_for(retry("create jobs", attempt, backoff=Backoff(60, 60), stop=stop,
                                         on_retry=lambda _: stop.set()), timeout=10)
        return len(calls)

    assert asyncio.run(scenario()) == 1


def test_the_step_in_hand_is_tried_even_when_already_stopping() -> None:
    async def scenario() -> tuple[str, int]:
        stop = asyncio.Event()
        stop.set()
        done_calls, succeeds = failing()
        result = await retry("x", succeeds, stop=stop)
        failed_calls, fails = failing(Passing())
        with pytest.raises(Stopping):
            await asyncio.wait_for(retry("x", fails, backoff=Backoff(60, 60), stop=stop), timeout=10)
        return result, len(done_calls) + len(failed_calls)

    assert asyncio.run(scenario()) == ("done", 2)


def test_until_done_answers_whether_the_step_was_done() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        _, attempt = failing(ConnectionError(), RuntimeError())
        done = await until_done("connect", attempt, initial=0.001, maximum=0.002)
        stop = asyncio.Event()
        _, never = failing(*(ConnectionError() for _ in range(10)))
        stopped = asyncio.get_running_loop().call_later(0.05, stop.set)
        interrupted = await asyncio.wait_for(until_done("connect", never, initial=60, stop=stop), 10)
        stopped.cancel()
        not_started = await until_done("connect", never, stop=stop)
        return done, interrupted, not_started

    assert asyncio.run(scenario()) == (True, False, False)
