"""`GET /retraining_api/evaluate` on a version whose file is no usable model: 422 saying why, never a 500.

Uploads are checked now, so such a version reaches retraining_api only from the store: one uploaded before the
check existed, or bytes changed there. The test writes it there with queue_manager's own code.
"""

from __future__ import annotations

import pickle

import httpx
import mongoengine
import pandas as pd
from sklearn.linear_model import LinearRegression

from conveyor.schemas.algorithms import Stage
from queue_manager.algorithms_store import create_algorithm
from tests.retraining_api.conftest import Seeded


def _stored_unchecked(seeded: Seeded, content: bytes) -> int:
    mongoengine.disconnect()
    mongoengine.connect(host=seeded.stack.mongodb_uri, tz_aware=True, uuidRepresentation="standard")
    try:
        doc = create_algorithm(name=seeded.model, dataset=seeded.dataset, model=content, filename="model.pkl",
                               config=None, config_filename=None, framework="", description="stored unchecked",
                               metrics={}, stage=Stage.staging)
        return int(doc.version)
    finally:
        mongoengine.disconnect()


def test_evaluate_on_a_file_that_is_no_model_is_422_saying_why(seeded: Seeded) -> None:
    other_columns = LinearRegression().fit(pd.DataFrame({"x": [0.0, 1.0, 2.0]}), [0.0, 1.0, 2.0])
    cases = {
        pickle.dumps({"weights": [1, 2]}): "loads as a builtins.dict, which has no .predict method",
        b"this is a text file, not a model\n": "does not load as a pickle/joblib file",
        pickle.dumps(other_columns): "cannot predict on",
    }
    for content, expected in cases.items():
        version = _stored_unchecked(seeded, content)
        response = httpx.get(f"{seeded.url}/evaluate", headers=seeded.read_headers, timeout=60,
                             params={"model_name": seeded.model, "version": version, "evaluate_on": "testing"})
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert detail.startswith(f"model {seeded.model} v{version} ") and expected in detail, detail
    # The service answers on, and the good version still evaluates.
    response = httpx.get(f"{seeded.url}/evaluate", headers=seeded.read_headers, timeout=60,
                         params={"model_name": seeded.model, "version": 1, "evaluate_on": "testing"})
    assert response.status_code == 200, response.text
