"""Training with real PyCaret; scoring with the model's own .predict."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from conveyor.schemas.datasets import DatasetSchema, Feature, Task
from conveyor.training import TrainedModel, dump_model, evaluate, load_config, train_model
from conveyor_tools.demo_dataset import DEMO_DATASET, demo_splits
from conveyor_tools.stack import Stack

Trained = tuple[TrainedModel, pd.DataFrame, Path]  # the model, its holdout, the working directory it trained in


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    cwd = tmp_path_factory.mktemp("cwd")
    before = Path.cwd()
    os.chdir(cwd)
    try:
        training, testing = demo_splits(rows=1500, seed=3)
        yield train_model(training, testing, DEMO_DATASET, include=["lr", "dt"]), testing, cwd
    finally:
        os.chdir(before)


def test_trains_and_scores_on_the_holdout(trained: Trained) -> None:
    model, testing, _ = trained
    assert model.model_id in {"lr", "dt"} and model.framework.startswith("pycaret")
    assert set(model.metrics) == {"Model", "MAE", "MSE", "RMSE", "R2", "RMSLE", "MAPE"}
    assert model.metrics["R2"] > 0.5, "the demo data carries a learnable relationship"
    assert load_config(model.config)["features"] == DEMO_DATASET.feature_names


def test_evaluate_equals_a_direct_computation(trained: Trained) -> None:
    model, testing, _ = trained
    scores = evaluate(model.pipeline, testing, DEMO_DATASET)
    predicted = model.pipeline.predict(testing[DEMO_DATASET.feature_names])
    truth = testing["quality"].to_numpy(dtype=float)
    assert scores["MAE"] == pytest.approx(skm.mean_absolute_error(truth, predicted))
    assert scores["RMSE"] == pytest.approx(np.sqrt(skm.mean_squared_error(truth, predicted)))
    assert scores["R2"] == pytest.approx(skm.r2_score(truth, predicted))
    assert scores == pytest.approx(model.metrics | {"Model": scores["Model"]})


def test_saved_pipeline_predicts_in_a_fresh_process_without_pycaret_imported(trained: Trained, tmp_path: Path) -> None:
    model, testing, _ = trained
    path = tmp_path / "model.joblib"
    path.write_bytes(dump_model(model.pipeline))
    rows = tmp_path / "rows.csv"
    testing[DEMO_DATASET.feature_names].head(50).to_csv(rows, index=False)
    code = (
        "import sys, joblib, pandas as pd\n"
        "assert 'pycaret' not in sys.modules\n"
        f"m = joblib.load({str(path)!r})\n"
        f"print(','.join(repr(float(v)) for v in m.predict(pd.read_csv({str(rows)!r}))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    fresh = [float(v) for v in result.stdout.strip().split(",")]
    here = model.pipeline.predict(pd.read_csv(rows))
    assert fresh == pytest.approx(list(here))
    assert not (tmp_path / "logs.log").exists()


def test_no_logs_file_in_the_working_directory(trained: Trained) -> None:
    _, _, cwd = trained
    assert not (cwd / "logs.log").exists()


def test_bad_requests_are_value_errors() -> None:
    training, testing = demo_splits(rows=300, seed=1)
    with pytest.raises(ValueError, match="valid ids") as info:
        train_model(training, testing, DEMO_DATASET, include=["lr", "not_a_model"])
    assert "not_a_model" in str(info.value) and "'lr'" in str(info.value)
    with pytest.raises(ValueError, match="no labelled training rows"):
        train_model(training.iloc[0:0], testing, DEMO_DATASET)


def test_classification() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    frame = pd.DataFrame(x, columns=["u", "v"]).assign(grade=np.where(x[:, 0] + x[:, 1] > 0, "good", "bad"))
    schema = DatasetSchema(name="cls", task=Task.classification, features=[Feature(name="u"), Feature(name="v")],
                           target="grade")
    model = train_model(frame.iloc[:300], frame.iloc[300:], schema, include=["lr"])
    assert model.metrics["Accuracy"] > 0.85 and 0.5 < model.metrics["AUC"] <= 1.0
    assert set(model.pipeline.predict(frame[["u", "v"]].head(5))) <= {"good", "bad"}


def test_conveyor_train_end_to_end(shared_stack: Stack, unique_name: str) -> None:
    """`conveyor train` against a running queue_manager and ml_data_api (the shared stack: a dataset of its own)."""
    from conveyor.clients import MLDataClient, QueueManagerClient
    from conveyor.schemas.services import ServiceCreate
    from conveyor_tools.cli.main import main
    from tests.support import register_dataset

    stack = shared_stack
    token = stack.config.api_token
    schema = DEMO_DATASET.model_copy(update={"name": unique_name})
    service = f"{unique_name}_svc"

    async def prepare() -> None:
        async with QueueManagerClient(stack.qm_url, token) as qm, MLDataClient(stack.ml_url, token) as ml:
            training, testing = demo_splits(rows=1200, seed=2)
            await register_dataset(qm, ml, schema, training=training, testing=testing)
            await qm.create_service(ServiceCreate(name=service, dataset=schema.name, queue=service))

    asyncio.run(prepare())
    args = ["train", "--dataset", schema.name, "--include", "lr", "--assign", service,
            "--qm-url", stack.qm_url, "--ml-url", stack.ml_url, "--token", token]
    assert main(args) == 0

    async def check() -> None:
        async with QueueManagerClient(stack.qm_url, token) as qm:
            algorithm = await qm.get_algorithm(f"{schema.name}_model", 1)
            assert algorithm.metrics["Model"] == "LinearRegression" and algorithm.metrics["R2"] > 0.5
            assert algorithm.config_file is not None and algorithm.framework.startswith("pycaret")
            assigned = (await qm.get_service(service)).algorithm
            assert assigned is not None and assigned.version == 1

    asyncio.run(check())
    assert main(["train", "--dataset", f"{unique_name}_nope", "--qm-url", stack.qm_url, "--ml-url", stack.ml_url,
                 "--token", token]) == 1
