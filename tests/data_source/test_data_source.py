"""data_source against the real broker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import numpy as np
import pandas as pd
import pytest

from conveyor.amqp import declare_service_queue
from data_source.publisher import PublishOptions, publish_rows
from data_source.records import DriftSpec, MessageFactory
from tests.queue_manager_server import queue_manager, register
from tests.support import wait_for

FEATURES = ["s1", "s2", "s3"]


def frame(rows: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    data = pd.DataFrame(rng.normal(100, 5, size=(rows, 3)).round(3), columns=FEATURES)
    data.insert(0, "date_time", pd.date_range("2020-01-01", periods=rows, freq="h"))
    data["quality"] = np.arange(rows)
    return data


async def drain(url: str, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    out = []
    async with await aio_pika.connect_robust(url) as connection:
        channel = await connection.channel()
        q = await channel.get_queue(queue)
        while (message := await q.get(fail=False, no_ack=True)) is not None:
            out.append(message)
    return out


def factory(**kw: Any) -> MessageFactory:
    return MessageFactory(frame=kw.pop("frame", frame()), features=FEATURES, run_id=kw.pop("run_id", "run"), **kw)


def test_named_messages_carry_everything(queue: str, amqp_url: str) -> None:
    data = frame(30)
    before = time.time()
    summary = asyncio.run(publish_rows(PublishOptions(queue, amqp_url),
                                       factory(frame=data, timestamps="file", timestamp_column="date_time")))
    after = time.time()
    assert summary.confirmed == 30 and summary.published == 30
    messages = asyncio.run(drain(amqp_url, queue))
    assert len(messages) == 30
    first = messages[0]
    body = json.loads(first.body)
    assert first.message_id == body["record_id"] == "run-0-0"
    assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    # The publish time to the microsecond: a string, as AMQP carries a float in 32 bits (±64 s at today's epoch).
    assert first.timestamp is not None and before <= float(str(first.headers["x-published-at"])) <= after
    assert body["features"] == {f: data[f].iloc[0] for f in FEATURES}
    assert body["timestamp"].startswith("2020-01-01T00:00:00")


def test_positional_form(queue: str, amqp_url: str) -> None:
    data = frame(5)
    asyncio.run(publish_rows(PublishOptions(queue, amqp_url), factory(frame=data, fmt="positional")))
    bodies = [json.loads(m.body) for m in asyncio.run(drain(amqp_url, queue))]
    assert bodies[2] == {"data": data[FEATURES].iloc[2].tolist()}


def test_rows_loop_and_unique_ids(queue: str, amqp_url: str) -> None:
    options = PublishOptions(queue, amqp_url, rows=120, loop=True, publishers=2)
    asyncio.run(publish_rows(options, factory(frame=frame(50), run_id="a")))
    asyncio.run(publish_rows(PublishOptions(queue, amqp_url), factory(frame=frame(50), run_id="b")))
    ids = [m.message_id for m in asyncio.run(drain(amqp_url, queue))]
    assert len(ids) == 170 and len(set(ids)) == 170
    assert "a-0-2" in ids and "a-19-2" in ids and "a-20-2" not in ids


def test_rate_is_honoured(queue: str, amqp_url: str) -> None:
    started = time.monotonic()
    asyncio.run(publish_rows(PublishOptions(queue, amqp_url, rate=100, rows=50), factory()))
    assert time.monotonic() - started >= 0.45


def test_drift_from_row_shifts_only_chosen_features(queue: str, amqp_url: str) -> None:
    data = frame(40)
    drift = [DriftSpec(("s2",), shift=50.0, from_row=20)]
    asyncio.run(publish_rows(PublishOptions(queue, amqp_url), factory(frame=data, drift=drift)))
    bodies = [json.loads(m.body)["features"] for m in asyncio.run(drain(amqp_url, queue))]
    assert [b["s2"] for b in bodies[:20]] == data["s2"].iloc[:20].tolist()
    assert [b["s2"] for b in bodies[20:]] == pytest.approx((data["s2"].iloc[20:] + 50).tolist())
    assert [b["s1"] for b in bodies] == data["s1"].tolist()


def test_malformed_share_is_deterministic() -> None:
    a = factory(frame=frame(400), malformed_share=0.1, seed=3)
    b = factory(frame=frame(400), malformed_share=0.1, seed=3)
    kinds = [a.malformed_kind(i) for i in range(400)]
    assert kinds == [b.malformed_kind(i) for i in range(400)]
    bad = [k for k in kinds if k]
    assert 20 <= len(bad) <= 60 and set(bad) == {"bad_json", "missing_feature", "mistyped", "wrong_length"}
    for i, kind in enumerate(kinds):
        _, body, built_kind = a.build(i, 0.0)
        assert built_kind == kind
        if kind == "bad_json":
            with pytest.raises(json.JSONDecodeError):
                json.loads(body)
        elif kind == "mistyped":
            assert json.loads(body)["features"]["s1"] == "abc"
        elif kind == "missing_feature":
            assert "s3" not in json.loads(body)["features"]
        elif kind == "wrong_length":
            assert len(json.loads(body)["data"]) == 2


def _cli(args: list[str], **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "data_source", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, **env})


def test_cli_streams_n_rows(queue: str, amqp_url: str, tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    frame(100).to_csv(csv, index=False)
    # No dataset named: the columns that are not features are said explicitly.
    proc = _cli(["--queue", queue, "--file", str(csv), "--rows", "20", "--target", "quality",
                 "--timestamp-column", "date_time"])
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert json.loads(out.strip().splitlines()[-1])["confirmed"] == 20
    messages = asyncio.run(drain(amqp_url, queue))
    assert len(messages) == 20 and set(json.loads(messages[0].body)["features"]) == set(FEATURES)


async def _queued(url: str, queue: str) -> int:
    async with await aio_pika.connect_robust(url) as connection:
        channel = await connection.channel()
        declared, _, _ = await declare_service_queue(channel, queue)
        return int(declared.declaration_result.message_count or 0)


def test_cli_sigterm_stops_cleanly_and_counts_truthfully(queue: str, amqp_url: str, tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    frame(100).to_csv(csv, index=False)
    proc = _cli(["--queue", queue, "--file", str(csv), "--features", ",".join(FEATURES), "--loop", "--rate", "200"])

    def more_than_50_queued() -> bool:
        assert proc.poll() is None, proc.communicate()[0]
        return asyncio.run(_queued(amqp_url, queue)) > 50

    wait_for(more_than_50_queued, 30, "data_source publishing more than 50 records")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["confirmed"] > 50
    assert len(asyncio.run(drain(amqp_url, queue))) == summary["confirmed"]


def test_cli_refuses_bad_options(tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    frame(5).to_csv(csv, index=False)
    proc = _cli(["--queue", "q", "--file", str(csv), "--features", "s1,nope"])
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "nope" in out
    proc = _cli(["--file", str(csv)])
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--queue" in out
    proc = _cli(["--queue", "q"])
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--file" in out
    # Neither features nor a dataset: date_time would go out as a feature, and is refused with a way out.
    proc = _cli(["--queue", "q", "--file", str(csv)])
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "date_time" in out and "--features" in out and "--dataset" in out


SCHEMA = {"name": "gauges", "task": "regression", "features": [{"name": "s1"}, {"name": "s2"}], "target": "grade",
          "timestamp_column": "measured_at"}


@pytest.fixture
def registered(mongo_uri: str, api_token: str, amqp_url: str, queue: str) -> Iterator[dict[str, str]]:
    """A real queue_manager knowing a dataset whose column names are none of the demo's, and a service on `queue`."""
    with queue_manager(mongo_uri, api_token, amqp_url) as url:
        register(url, api_token, SCHEMA, {"name": "gauge_service", "dataset": "gauges", "queue": queue})
        yield {"QUEUE_MANAGER_URL": url, "API_TOKEN": api_token}


def gauges(rows: int) -> pd.DataFrame:
    data = frame(rows).rename(columns={"date_time": "measured_at", "quality": "grade"})
    return data.assign(measured_at=pd.date_range("2021-06-01", periods=rows, freq="min"))


def test_defaults_come_from_the_services_dataset(registered: dict[str, str], queue: str, amqp_url: str,
                                                 tmp_path: Path) -> None:
    csv = tmp_path / "gauges.csv"
    gauges(30).to_csv(csv, index=False)
    proc = _cli(["--service", "gauge_service", "--file", str(csv), "--rows", "5", "--timestamps", "file"],
                **registered)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    bodies = [json.loads(m.body) for m in asyncio.run(drain(amqp_url, queue))]
    assert len(bodies) == 5, "published to the service's queue"
    assert all(list(b["features"]) == ["s1", "s2"] for b in bodies), "the schema's features, never s3 or grade"
    assert bodies[1]["timestamp"].startswith("2021-06-01T00:01:00"), "times from the schema's timestamp column"


def test_explicit_options_win_over_the_schema(registered: dict[str, str], queue: str, amqp_url: str,
                                              tmp_path: Path) -> None:
    csv = tmp_path / "gauges.csv"
    gauges(30).to_csv(csv, index=False)
    proc = _cli(["--dataset", "gauges", "--queue", queue, "--features", "s3,s1", "--file", str(csv), "--rows", "3"],
                **registered)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert [list(json.loads(m.body)["features"]) for m in asyncio.run(drain(amqp_url, queue))] == [["s3", "s1"]] * 3
    proc = _cli(["--dataset", "nope", "--queue", queue, "--file", str(csv)], **registered)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "nope" in out and registered["QUEUE_MANAGER_URL"] in out
