"""The publish time crosses AMQP to the microsecond: worker_end_to_end_seconds (the p99 latency alert) is
measured from it. AMQP tables carry a Python float as a 32-bit float (pamqp), ±64 s off at today's epoch, so the
data source sends its digits as a string and the worker reads them back."""

from __future__ import annotations

import json
import time

from pamqp import decode, encode

from conveyor.schemas.datasets import DatasetSchema
from conveyor_tools.demo_dataset import DEMO_DATASET
from worker.messages import parse


def crossed(headers: dict) -> dict:
    """The headers as a consumer receives them (pamqp's field-table encoding, both ways)."""
    return decode.field_table(encode.field_table(headers))[1]


def test_the_publish_time_arrives_to_the_microsecond() -> None:
    schema: DatasetSchema = DEMO_DATASET
    body = json.dumps({"record_id": "r1", "features": {name: 1.0 for name in schema.feature_names}}).encode()
    now = time.time()
    record = parse(body, schema, "data", headers=crossed({"x-published-at": repr(now)}))
    assert record.published_at == now
    # What a float header would have given: off by tens of seconds.
    assert abs(crossed({"x-published-at": now})["x-published-at"] - now) > 1e-3
    # An unreadable header is no publish time, not an error.
    assert parse(body, schema, "data", headers={"x-published-at": "soon"}).published_at is None
