"""The order of a pipelined batch's background step, as pure logic: the stores and the broker are replaced by
recorders, since what is under test is only which batches get their jobs written and acknowledgements sent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conveyor.retry import Stopping
from worker.batch_processor import BatchProcessor


async def process(p: BatchProcessor, batch: str) -> None:
    """One batch, named by a string (the recorders below hand it through as its messages and models)."""
    await p.process([batch], None)  # type: ignore[list-item, arg-type]


class Recorder(BatchProcessor):
    """A BatchProcessor whose store step hands the messages through and whose finish step records them; the
    finish of a batch named in `stops_at` raises Stopping, as a retry interrupted by SIGTERM does."""

    def __init__(self, stops_at: set[str]) -> None:  # noqa: D107 - none of the real dependencies are needed
        self._finishing = None
        self.finished: list[str] = []
        self.stops_at = stops_at

    async def _store(self, messages: Any, models: Any) -> Any:
        return messages[0]

    async def _finish(self, batch: Any) -> None:
        if batch in self.stops_at:
            raise Stopping("write jobs")
        self.finished.append(batch)


def test_after_a_stop_in_the_previous_finish_the_next_batch_is_not_acknowledged() -> None:
    # Batch "a"'s jobs were not written (a stop during their retry): "b"'s acknowledgement with `multiple` would
    # cover "a"'s messages on the channel, so "b" must not be finished either; both come again from the broker.
    async def run() -> Recorder:
        p = Recorder(stops_at={"a"})
        await process(p, "a")
        with pytest.raises(Stopping):
            await process(p, "b")
        await p.settle()
        return p

    p = asyncio.run(run())
    assert p.finished == []
    assert p._finishing is None


def test_batches_are_finished_in_order_one_after_the_other() -> None:
    async def run() -> Recorder:
        p = Recorder(stops_at=set())
        for name in "abc":
            await process(p, name)
        await p.settle()
        return p

    assert asyncio.run(run()).finished == ["a", "b", "c"]


def test_a_lost_channel_in_the_previous_finish_still_finishes_the_next_batch() -> None:
    # A lost channel is not a stop: the next batch's messages may have come on the restored channel, and left
    # unacknowledged there they would hold the consumer's prefetch for good.
    class LosesChannel(Recorder):
        async def _finish(self, batch: Any) -> None:
            if batch == "a":
                raise ConnectionResetError("channel closed")
            self.finished.append(batch)

    async def run() -> Recorder:
        p = LosesChannel(stops_at=set())
        await process(p, "a")
        with pytest.raises(ConnectionResetError):
            await process(p, "b")
        await p.settle()
        return p

    assert asyncio.run(run()).finished == ["b"]
