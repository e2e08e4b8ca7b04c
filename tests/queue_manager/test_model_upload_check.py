"""An upload is loaded, asked for .predict and made to predict in a separate process before it is stored.

Against queue_manager's app with its real MongoDB; the check's process is real too (conveyor.model_check).
"""

from __future__ import annotations

import io
import os
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io
from fastapi.testclient import TestClient
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeRegressor

from tests.queue_manager.conftest import model_bytes

ALGORITHMS = "/queue_manager/algorithms"
ROASTER = pd.DataFrame({"t1": np.arange(10.0), "h": np.arange(10)})  # the dataset fixture's columns


class ExitOnLoad:
    """Unpickling it calls os._exit(1): a file that would end whatever process loads it."""

    def __reduce__(self) -> tuple[object, tuple[int]]:
        return os._exit, (1,)


class SleepOnLoad:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return eval, ("__import__('time').sleep(60)",)


class HogOnLoad:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return eval, ("bytearray(4 * 1024 ** 3)",)


def _post(client: TestClient, content: bytes, filename: str = "model.pkl", **fields: str) -> dict:
    response = client.post(ALGORITHMS, data={"name": "m", "dataset": "roaster", **fields},
                           files={"file": (filename, content, "application/octet-stream")})
    return {"status": response.status_code, **response.json()}


def _refused(client: TestClient, content: bytes, filename: str = "model.pkl", **fields: str) -> str:
    answer = _post(client, content, filename, **fields)
    assert answer["status"] == 422, answer
    detail: str = answer["detail"]
    return detail


def test_a_text_file_is_refused_saying_why(client: TestClient, dataset: dict) -> None:
    detail = _refused(client, b"this is not a model file\n")
    assert detail.startswith("model refused: the uploaded file 'model.pkl' does not load as a pickle/joblib file")
    assert "it is a text file, not a saved model" in detail
    assert client.get(ALGORITHMS).json() == []


def test_a_model_for_other_columns_is_refused_naming_them(client: TestClient, dataset: dict) -> None:
    other = pd.DataFrame({"a": np.arange(10.0), "b": np.arange(10.0)})
    buffer = io.BytesIO()
    joblib.dump(LinearRegression().fit(other, np.arange(10.0)), buffer)
    detail = _refused(client, buffer.getvalue(), "model.joblib")
    assert detail.startswith("model refused: the uploaded file 'model.joblib' is a model for other columns: it was "
                             "fitted on a, b, dataset 'roaster' has t1, h (the dataset has no a, b; the model was not "
                             "fitted on t1, h); predict says ValueError: The feature names should match")
    # Fitted without column names and on three columns: predict itself says what is wrong.
    bare = pickle.dumps(LinearRegression().fit(np.ones((5, 3)), np.ones(5)))
    detail = _refused(client, bare)
    assert "cannot predict on 5 rows shaped like dataset 'roaster' (t1 float, h int)" in detail
    assert "3 features" in detail
    # A model that ignores its input predicts whatever the columns: accepted, as the worker would serve it.
    constant = pickle.dumps(DummyRegressor().fit(pd.DataFrame({"other": [1.0, 2.0]}), [1.0, 3.0]))
    assert _post(client, constant)["status"] == 201


def test_a_file_without_predict_is_refused(client: TestClient, dataset: dict) -> None:
    detail = _refused(client, pickle.dumps({"coef": [1.0, 2.0]}))
    assert "loads as a builtins.dict, which has no .predict method" in detail


def test_a_pickle_that_ends_its_process_is_refused_and_the_service_answers_on(client: TestClient,
                                                                              dataset: dict) -> None:
    detail = _refused(client, pickle.dumps(ExitOnLoad()))
    assert "the check process exited with status 1 before it reported" in detail
    assert client.get("/health").status_code == 200
    assert client.get(ALGORITHMS).json() == []
    assert _post(client, model_bytes())["status"] == 201  # the next upload is checked as usual


def test_the_time_and_memory_limits_refuse_with_their_setting(client: TestClient, dataset: dict,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_CHECK_SECONDS", "3")
    assert "within 3 s (MODEL_CHECK_SECONDS)" in _refused(client, pickle.dumps(SleepOnLoad()))
    monkeypatch.delenv("MODEL_CHECK_SECONDS")
    assert "needs more memory than MODEL_CHECK_MEMORY_MB (2048 MB)" in _refused(client, pickle.dumps(HogOnLoad()))


def test_a_skops_model_is_accepted_and_recorded_as_skops(client: TestClient, dataset: dict,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_ALLOW_PICKLE", "false")
    content = skops.io.dumps(LinearRegression().fit(ROASTER, np.arange(10.0)))
    created = _post(client, content, "model.skops", framework="scikit-learn")
    assert created["status"] == 201, created
    assert (created["format"], created["file"]["filename"]) == ("skops", "model.skops")
    assert client.get(f"{ALGORITHMS}/m/1/file").content == content
    # A file with no suffix is read by its first bytes, and kept under a name that says its format.
    created = _post(client, content, "model")
    assert (created["format"], created["file"]["filename"]) == ("skops", "model.skops")
    # A pickle, with pickle off, is refused before it is loaded.
    detail = _refused(client, model_bytes())
    assert "pickle files are refused: MODEL_ALLOW_PICKLE=false" in detail and "skops.io.dump" in detail


def test_untrusted_skops_types_are_listed(client: TestClient, dataset: dict,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    content = skops.io.dumps(DecisionTreeRegressor().fit(ROASTER, np.arange(10.0)))
    detail = _refused(client, content, "tree.skops")
    assert "holds types skops does not trust: sklearn.tree._tree.Tree; if you trust them, add them to " \
           "MODEL_TRUSTED_TYPES" in detail
    monkeypatch.setenv("MODEL_TRUSTED_TYPES", "sklearn.tree._tree.Tree")
    assert _post(client, content, "tree.skops")["status"] == 201


def test_pickles_are_recorded_as_pickle(client: TestClient, dataset: dict) -> None:
    created = _post(client, model_bytes(), "model.joblib")
    assert created["status"] == 201 and created["format"] == "pickle"


def test_metrics_the_stores_cannot_hold_are_422(client: TestClient, dataset: dict) -> None:
    for text, expected in (('{"n": 9223372036854775808}', "outside -2^63..2^63-1"),
                           ('{"MAE": NaN}', "metrics.MAE is nan"), ('{"a": {"b": Infinity}}', "metrics.a.b is inf")):
        assert expected in _refused(client, b"never checked", metrics=text)
    _post(client, model_bytes(), metrics='{"n": 9223372036854775807}')
    for metrics in ({"n": 2**63}, {"n": -(2**63) - 1}):
        response = client.patch(f"{ALGORITHMS}/m/1", json={"metrics": metrics})
        assert response.status_code == 422, response.text
        assert "outside -2^63..2^63-1" in response.json()["detail"]
    assert client.get(f"{ALGORITHMS}/m/1").json()["metrics"] == {"n": 2**63 - 1}


def test_nul_in_a_form_field_is_422(client: TestClient, dataset: dict) -> None:
    for field in ("description", "framework", "name", "dataset"):
        fields = {"name": "m", "dataset": "roaster", field: "x\x00y"}
        response = client.post(ALGORITHMS, data=fields, files={"file": ("model.pkl", b"never checked")})
        assert response.status_code == 422, response.text
        assert response.json()["detail"] == (f"the form field {field!r} holds a NUL character (\\u0000), which cannot "
                                             "be stored: remove it")
    assert client.get(ALGORITHMS).json() == []


def test_a_mistyped_check_setting_is_503_naming_it(client: TestClient, dataset: dict,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_CHECK_SECONDS", "a minute")
    response = client.post(ALGORITHMS, data={"name": "m", "dataset": "roaster"},
                           files={"file": ("model.pkl", model_bytes())})
    assert response.status_code == 503, response.text
    assert response.json()["detail"] == ("queue_manager cannot check models: MODEL_CHECK_SECONDS must be a number, "
                                         "got 'a minute'")
