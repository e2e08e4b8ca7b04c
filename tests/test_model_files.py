"""The one model loader (conveyor.model_files): skops with its trusted-types check, pickle only where allowed.

Pure logic: bytes in, a model or a sentence out; no service involved.
"""

from __future__ import annotations

import io
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeRegressor

from conveyor import model_files
from conveyor.model_check import check_rows
from conveyor.model_files import ModelFileSettings, UnloadableModel, load_model
from conveyor.schemas.algorithms import ModelFormat
from conveyor.schemas.datasets import DatasetSchema

X = pd.DataFrame({"t1": np.arange(10.0), "h": np.arange(10)})
Y = np.arange(10.0) * 2
PICKLE_ON = ModelFileSettings(allow_pickle=True)
PICKLE_OFF = ModelFileSettings(allow_pickle=False)


def _joblib(model: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def test_a_skops_file_of_trusted_types_loads_even_with_pickle_off() -> None:
    content = skops.io.dumps(LinearRegression().fit(X, Y))
    model = load_model(content, "model.skops", settings=PICKLE_OFF)
    assert model.predict(X.head(2)).tolist() == pytest.approx([0.0, 2.0])


def test_untrusted_skops_types_are_listed_and_can_be_trusted_by_setting() -> None:
    content = skops.io.dumps(DecisionTreeRegressor().fit(X, Y))  # skops 0.16 does not trust sklearn's Tree
    with pytest.raises(UnloadableModel) as refused:
        load_model(content, "tree.skops", settings=PICKLE_OFF)
    assert str(refused.value) == (
        "model file 'tree.skops' holds types skops does not trust: sklearn.tree._tree.Tree; if you trust them, add "
        "them to MODEL_TRUSTED_TYPES (comma-separated) on every component that loads models")
    trusting = ModelFileSettings(allow_pickle=False, trusted_types=("sklearn.tree._tree.Tree",))
    assert load_model(content, "tree.skops", settings=trusting).predict(X.head(1)).tolist() == [0.0]


def test_pickle_is_refused_when_disallowed_and_loads_when_allowed() -> None:
    for content in (_joblib(LinearRegression().fit(X, Y)), pickle.dumps(LinearRegression().fit(X, Y))):
        for name in ("model.joblib", "model.pkl", "model.pickle", "model"):
            with pytest.raises(UnloadableModel, match="pickle files are refused: MODEL_ALLOW_PICKLE=false"):
                load_model(content, name, settings=PICKLE_OFF)
            assert load_model(content, name, settings=PICKLE_ON).predict(X.head(1)).tolist() == pytest.approx([0.0])


def test_pickle_is_off_by_default_in_production_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODEL_ALLOW_PICKLE", raising=False)
    monkeypatch.setenv("CONVEYOR_ENV", "production")
    assert model_files.model_file_settings().allow_pickle is False
    monkeypatch.setenv("MODEL_ALLOW_PICKLE", "true")
    assert model_files.model_file_settings().allow_pickle is True
    monkeypatch.setenv("CONVEYOR_ENV", "development")
    monkeypatch.delenv("MODEL_ALLOW_PICKLE")
    assert model_files.model_file_settings().allow_pickle is True


def test_refusals_say_why() -> None:
    cases = {
        (b"this is not a model file", "model.pkl"): "does not load as a pickle/joblib file (",
        (b"this is not a model file", "model.skops"): "does not load as a skops file (",
        (pickle.dumps({"weights": [1, 2]}), "model.pkl"): "loads as a builtins.dict, which has no .predict method",
        (b"", "model.pkl"): "is empty",
    }
    for (content, name), expected in cases.items():
        with pytest.raises(UnloadableModel, match=expected.replace("(", r"\(").replace(".", r"\.")):
            load_model(content, name, what=f"model file {name!r}", settings=PICKLE_ON)
    with pytest.raises(UnloadableModel, match="it is a text file, not a saved model"):
        load_model(b"hello\nworld\n", "notes.pkl", settings=PICKLE_ON)
    # Without .predict allowed where a caller only needs the object (a config file).
    assert load_model(pickle.dumps({"a": 1}), "c.pkl", settings=PICKLE_ON, require_predict=False) == {"a": 1}


def test_the_format_comes_from_the_name_else_from_the_first_bytes() -> None:
    skops_bytes = skops.io.dumps(LinearRegression().fit(X, Y))
    assert model_files.model_format("m.skops", b"anything") is ModelFormat.skops
    assert model_files.model_format("m.JOBLIB", skops_bytes) is ModelFormat.pickle  # the name wins
    assert model_files.model_format("model", skops_bytes) is ModelFormat.skops  # a zip archive
    assert model_files.model_format(None, pickle.dumps(1)) is ModelFormat.pickle
    # Kept under a name that says it, so that the stored name alone tells the format afterwards.
    assert model_files.stored_filename("model", ModelFormat.skops) == "model.skops"
    assert model_files.stored_filename("m.skops", ModelFormat.skops) == "m.skops"
    assert model_files.stored_filename("model", ModelFormat.pickle) == "model"
    assert model_files.stored_format("model.skops") is ModelFormat.skops
    assert model_files.stored_format("model") is ModelFormat.pickle  # records from before skops


def test_check_rows_follow_the_schema_types() -> None:
    schema = DatasetSchema.model_validate({"name": "d", "task": "classification", "target": "y", "features": [
        {"name": "f", "type": "float"}, {"name": "i", "type": "int"}, {"name": "s", "type": "str"},
        {"name": "b", "type": "bool"}]})
    rows = check_rows(schema)
    assert len(rows) == 5 and list(rows[0]) == ["f", "i", "s", "b"]
    assert {type(row[name]) for row in rows for name in "fisb"} == {float, int, str, bool}
    assert {row["b"] for row in rows} == {True, False}
