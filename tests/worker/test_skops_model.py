"""A skops model, accepted by queue_manager's check and served by a worker that refuses pickles.

End to end on the worker tests' stack: upload (checked in its own process), assignment, records through
RabbitMQ, predictions stored in ml_data_api.
"""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.worker.conftest import FEATURES, Service, named, publish_many

OFFSET = 10.0


def skops_model_bytes() -> bytes:
    """y = a + 2b - c + 10, as a scikit-learn pipeline saved with skops (every type in it trusted by skops)."""
    rng = np.random.default_rng(1)
    x = pd.DataFrame(rng.normal(size=(200, 3)), columns=FEATURES)
    model = make_pipeline(StandardScaler(), LinearRegression()).fit(x, x.a + 2 * x.b - x.c + OFFSET)
    return skops.io.dumps(model)


def test_a_skops_model_is_accepted_and_served_with_pickle_off(service: Service) -> None:
    response = httpx.post(
        f"{service.stack.qm_url}/queue_manager/algorithms", headers=service.headers, timeout=60,
        data={"name": f"{service.name}_model", "dataset": service.dataset, "framework": "scikit-learn"},
        files={"file": ("model.skops", skops_model_bytes(), "application/octet-stream")},
    )
    assert response.status_code == 201, response.text
    assert response.json()["format"] == "skops"
    version = int(response.json()["version"])
    service.assign(version)
    # Pickles refused in this worker: only the skops file can be what it serves.
    worker = service.start_worker("w1", MODEL_ALLOW_PICKLE="false")
    asyncio.run(publish_many(service.queue, [named(i, "s") for i in range(50)]))
    service.wait_for(lambda: service.job_total("finished") == 50, what="50 finished jobs")
    rows = service.rows()
    assert len(rows) == 50 and {row["model_version"] for row in rows} == {version}
    for row in rows:
        a, b, c = (float(row[name]) for name in FEATURES)
        assert row["prediction"] == pytest.approx(a + 2 * b - c + OFFSET, abs=1e-6)
    assert f"{service.name}_model v{version}" in service.log(worker)
