"""A model version's reference error and estimator, read from a real queue_manager and ml_data_api."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.clients.peers import PeerClients
from conveyor.pg import Database
from conveyor.records import to_records
from conveyor.schemas.algorithms import AlgorithmPatch, AlgorithmRef, HoldoutSplit, HoldoutWindow
from conveyor.schemas.datasets import DatasetSchema
from conveyor.training import dump_model
from conveyor.training.metrics import regression_scores
from conveyor_tools import devstack
from ml_data_api.main import create_app as ml_data_app
from ml_data_api.settings import Settings as MLDataSettings
from monitoring_api.estimation import CBPE, DLE
from monitoring_api.model_reference import MODEL_REFERENCE_DDL, ModelReferences
from tests.queue_manager_server import queue_manager
from tests.support import register_dataset, serve

FEATURES = ["x", "z"]


def rows(rng: np.random.Generator, count: int, start: str) -> pd.DataFrame:
    x, z = rng.uniform(0, 10, count), rng.normal(size=count)
    return pd.DataFrame({"date_time": pd.date_range(start, periods=count, freq="h", tz="UTC"), "x": x, "z": z,
                         "quality": 3 * x + z + rng.normal(scale=0.2 + 0.3 * x, size=count)})


@dataclass
class Peers:
    qm_url: str
    ml_url: str
    token: str
    db: Database

    def clients(self) -> PeerClients:
        return PeerClients(QueueManagerClient(self.qm_url, self.token), MLDataClient(self.ml_url, self.token))


@pytest.fixture(scope="module")
def peers(secantus_port: int, api_token: str, amqp_url: str, pg_url: str) -> Iterator[Peers]:
    """One queue_manager and ml_data_api for the module (each test uses datasets and models of its own)."""
    db = Database(pg_url, 2)
    db.run(MODEL_REFERENCE_DDL)
    with queue_manager(devstack.mongo_uri(secantus_port, f"t_{uuid.uuid4().hex[:12]}"), api_token, amqp_url) as qm_url:
        settings = MLDataSettings(database_url=pg_url, api_token=api_token, queue_manager_url=qm_url, amqp_url="")
        with serve(ml_data_app(settings)) as ml_url:
            yield Peers(qm_url, ml_url, api_token, db)
    db.close()


def schema(name: str) -> DatasetSchema:
    return DatasetSchema.model_validate({"name": name, "task": "regression", "target": "quality",
                                         "features": [{"name": f} for f in FEATURES]})


def test_the_reference_error_is_computed_once_on_the_testing_split(peers: Peers, unique_name: str) -> None:
    rng = np.random.default_rng(0)
    training, testing = rows(rng, 600, "2025-01-01"), rows(rng, 400, "2025-02-01")
    model = make_pipeline(StandardScaler(), LinearRegression()).fit(training[FEATURES], training["quality"])
    dataset = schema(unique_name)
    expected = regression_scores(testing["quality"].to_numpy(), model.predict(testing[FEATURES]))

    async def scenario() -> None:
        async with peers.clients() as clients:
            await register_dataset(clients.queue_manager, clients.ml_data, dataset, training=training,
                                   testing=testing)
            await clients.queue_manager.upload_algorithm(name=f"{unique_name}_m", dataset=unique_name,
                                                         model=dump_model(model))
            ref = AlgorithmRef(name=f"{unique_name}_m", version=1)
            references = ModelReferences(clients, peers.db, cap=2)
            first = await references.get(dataset, ref)
            assert first.reference_error.mae == pytest.approx(expected["MAE"])
            assert first.reference_error.rmse == pytest.approx(expected["RMSE"])
            assert first.reference_error.rows == 400 and "computed once" in first.reference_error.source
            assert await references.get(dataset, ref) is first  # in memory

            fresh = rows(rng, 500, "2025-03-01")
            window = fresh.assign(prediction=model.predict(fresh[FEATURES]))
            estimate = first.estimate(window)
            realized = np.abs(window["prediction"] - window["quality"]).mean()
            assert estimate.method == DLE and estimate.rows == 500
            assert estimate.mae == pytest.approx(realized, rel=0.15)

            # A new process reads the stored row instead of scoring again: marked here so it shows.
            peers.db.run("UPDATE monitoring_model_references SET reference_error = "
                         "jsonb_set(reference_error, '{mae}', '123.0') WHERE model = %s", (ref.name,))
            restarted = await ModelReferences(clients, peers.db, cap=2).get(dataset, ref)
            assert restarted.reference_error.mae == 123.0 and restarted.estimator is not None

    asyncio.run(scenario())


def test_registered_metrics_are_the_reference_and_nothing_is_stored(peers: Peers, unique_name: str) -> None:
    rng = np.random.default_rng(1)
    training, testing = rows(rng, 300, "2025-01-01"), rows(rng, 200, "2025-02-01")
    model = LinearRegression().fit(training[FEATURES], training["quality"])
    dataset = schema(unique_name)

    async def scenario() -> None:
        async with peers.clients() as clients:
            await register_dataset(clients.queue_manager, clients.ml_data, dataset, training=training,
                                   testing=testing)
            await clients.queue_manager.upload_algorithm(
                name=f"{unique_name}_m", dataset=unique_name, model=dump_model(model),
                metrics={"Model": "lr", "MAE": 1.5, "RMSE": 2.0, "R2": 0.9},
                holdout=HoldoutWindow(split=HoldoutSplit.testing, rows=200))
            ref = AlgorithmRef(name=f"{unique_name}_m", version=1)
            references = ModelReferences(clients, peers.db, cap=2, revalidate_seconds=0)  # asks every time
            reference = await references.get(dataset, ref)
            error = reference.reference_error
            assert (error.mae, error.rmse, error.r2, error.rows) == (1.5, 2.0, 0.9, 200)
            assert "recorded at registration" in error.source and "testing split" in error.source
            assert reference.estimator is not None
            assert await references.get(dataset, ref) is reference  # unchanged in queue_manager: kept
            await clients.queue_manager.update_algorithm(ref.name, 1, AlgorithmPatch(metrics={"MAE": 1.0}))
            assert (await references.get(dataset, ref)).reference_error.mae == 1.0

    asyncio.run(scenario())
    assert peers.db.one("SELECT 1 AS one FROM monitoring_model_references WHERE model = %s",
                        (f"{unique_name}_m",)) is None


def test_a_version_without_holdout_rows_says_so_instead_of_raising(peers: Peers, unique_name: str) -> None:
    training = rows(np.random.default_rng(2), 200, "2025-01-01")
    model = LinearRegression().fit(training[FEATURES], training["quality"])
    dataset = schema(unique_name)

    async def scenario() -> None:
        async with peers.clients() as clients:
            await register_dataset(clients.queue_manager, clients.ml_data, dataset, training=training)
            await clients.queue_manager.upload_algorithm(name=f"{unique_name}_m", dataset=unique_name,
                                                         model=dump_model(model))
            references = ModelReferences(clients, peers.db, cap=2)
            reference = await references.get(dataset, AlgorithmRef(name=f"{unique_name}_m", version=1))
            assert reference.estimator is None and reference.reference_error.mae is None
            assert "holds no labelled rows" in (reference.unavailable_reason or "")
            assert reference.reference_error.source.startswith("unknown:")
            assert reference.estimate(training.assign(prediction=1.0)).method is None
            unknown = await references.get(dataset, AlgorithmRef(name=f"{unique_name}_m", version=9))
            assert unknown.estimator is None and "does not give algorithm" in (unknown.unavailable_reason or "")

    asyncio.run(scenario())


def test_a_production_holdout_is_the_service_s_labelled_rows_between_its_ends(peers: Peers, unique_name: str) -> None:
    rng = np.random.default_rng(3)
    training = rows(rng, 300, "2025-01-01")
    model = LinearRegression().fit(training[FEATURES], training["quality"])
    dataset = schema(unique_name)
    production = rows(rng, 300, "2025-03-01")
    mine = production.assign(record_id=[f"r{i}" for i in range(300)], service="svc",
                             prediction=model.predict(production[FEATURES]))
    # Another service's rows at the same times, labelled far off: they are not this model's holdout.
    theirs = mine.assign(record_id=[f"o{i}" for i in range(300)], service="other", quality=1e6)
    holdout = mine.iloc[50:250]  # labelled rows 0..249; the holdout is the latest 200 of them
    window = HoldoutWindow(split=HoldoutSplit.production, service="svc", rows=len(holdout),
                           start=holdout["date_time"].iloc[0].to_pydatetime(),
                           end=holdout["date_time"].iloc[-1].to_pydatetime())
    expected = regression_scores(holdout["quality"].to_numpy(), holdout["prediction"].to_numpy())

    async def scenario() -> None:
        async with peers.clients() as clients:
            await register_dataset(clients.queue_manager, clients.ml_data, dataset, training=training)
            for frame in (mine, theirs):
                await clients.ml_data.insert_rows(unique_name, "production",
                                                  to_records(frame.drop(columns=["quality"])))
                labelled = frame.iloc[:250]
                pairs = zip(labelled["record_id"], labelled["quality"], strict=True)
                await clients.ml_data.post_labels(unique_name, [{"record_id": r, "label": q} for r, q in pairs])
            await clients.queue_manager.upload_algorithm(name=f"{unique_name}_m", dataset=unique_name,
                                                         model=dump_model(model), holdout=window)
            reference = await ModelReferences(clients, peers.db, cap=2).get(
                dataset, AlgorithmRef(name=f"{unique_name}_m", version=1))
            error = reference.reference_error
            assert error.rows == 200 and "production rows of svc" in error.source  # both ends included
            assert error.mae == pytest.approx(expected["MAE"]) and reference.estimator is not None

    asyncio.run(scenario())


def test_a_classifier_gets_cbpe_or_the_reason_it_cannot(peers: Peers, unique_name: str) -> None:
    rng = np.random.default_rng(4)
    frame = rows(rng, 800, "2025-01-01")
    frame["quality"] = np.where(frame["quality"] + rng.normal(scale=3, size=len(frame)) > 15, "good", "bad")
    training, testing = frame.iloc[:500], frame.iloc[500:]
    dataset = DatasetSchema.model_validate({"name": unique_name, "task": "classification", "target": "quality",
                                            "features": [{"name": f} for f in FEATURES]})
    with_proba = LogisticRegression().fit(training[FEATURES], training["quality"])
    without = LinearSVC(dual=False).fit(training[FEATURES], training["quality"])

    async def scenario() -> None:
        async with peers.clients() as clients:
            await register_dataset(clients.queue_manager, clients.ml_data, dataset, training=training,
                                   testing=testing)
            for name, model in (("proba", with_proba), ("svc", without)):
                await clients.queue_manager.upload_algorithm(name=f"{unique_name}_{name}", dataset=unique_name,
                                                             model=dump_model(model))
            references = ModelReferences(clients, peers.db, cap=2)
            probabilistic = await references.get(dataset, AlgorithmRef(name=f"{unique_name}_proba", version=1))
            accuracy = (with_proba.predict(testing[FEATURES]) == testing["quality"]).mean()
            assert probabilistic.reference_error.accuracy == pytest.approx(accuracy)
            estimate = probabilistic.estimate(testing.assign(prediction=with_proba.predict(testing[FEATURES])))
            assert estimate.method == CBPE and estimate.accuracy == pytest.approx(accuracy, abs=0.05)
            plain = await references.get(dataset, AlgorithmRef(name=f"{unique_name}_svc", version=1))
            assert plain.estimator is None and plain.reference_error.accuracy is not None
            assert (plain.unavailable_reason or "").startswith("the model gives no probabilities: LinearSVC")
            assert plain.estimate(testing).reason == plain.unavailable_reason

    asyncio.run(scenario())
