"""The demo dataset: the reference system's 11 roasting-machine features predicting quality."""

from __future__ import annotations

import pandas as pd

from conveyor.schemas.datasets import DatasetSchema, Feature, FeatureType, Task
from conveyor.schemas.retraining import TrainingData, TrainingSource
from conveyor.schemas.services import RetrainingPolicy, RetrainTrigger
from conveyor_tools import datagen

DEMO_FEATURES = [
    "H_data", "T_data_1_1", "T_data_1_2", "T_data_1_3", "T_data_2_3", "T_data_3_1",
    "T_data_3_2", "T_data_3_3", "T_data_5_1", "T_data_5_2", "T_data_5_3",
]
DEMO_DATASET = DatasetSchema(
    name="product_quality",
    task=Task.regression,
    features=[Feature(name=name, type=FeatureType.float) for name in DEMO_FEATURES],
    target="quality",
    timestamp_column="date_time",
    description="Roasting machine: 11 sensor readings predict the product quality (demo data).",
)
DEMO_SERVICE = "service_product_quality_A"
DEMO_QUEUE = "gits_product_quality_A"
DEMO_START = "2015-01-04 00:00"
COLUMNS = ["date_time", *DEMO_FEATURES, "quality"]


def demo_splits(rows: int = 6000, seed: int = 42, test_share: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows first in time, testing rows after them."""
    frame = datagen.generate(rows, seed=seed, start=DEMO_START)[COLUMNS]
    cut = int(round(rows * (1 - test_share)))
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def demo_stream(rows: int, seed: int = 7, after_rows: int = 6000) -> pd.DataFrame:
    """Rows that continue in time after the training and testing period (all 17 sensors)."""
    start = pd.Timestamp(DEMO_START) + pd.Timedelta(hours=after_rows)
    return datagen.generate(rows, seed=seed, start=start)


# A sensor fault the demo can inject (`conveyor demo-drift`): four sensors whose weights in the quality
# formula have the same sign, each read +60 °C too high (about 2 standard deviations). The true quality
# does not change, so a model fed the faulty readings predicts about sum(coef) x 60 ≈ +32 too high.
DEMO_DRIFT_FEATURES = ("T_data_1_2", "T_data_5_1", "T_data_5_2", "T_data_5_3")
DEMO_DRIFT_SHIFT = 60.0


def prediction_shift(features: tuple[str, ...], shift: float) -> float:
    """How far a shift of `features` moves the quality formula (a linear model's prediction moves as much)."""
    return sum(datagen.QUALITY_COEF[datagen.SENSORS.index(name)] * shift for name in features)


def shift_in_stds(features: tuple[str, ...], shift: float) -> dict[str, float]:
    return {name: shift / datagen.STDS[datagen.SENSORS.index(name)] for name in features}


# The demo service retrains itself when drift is detected. It trains on the post-drift production rows only:
# a sensor fault changes P(quality | sensors) (the same readings now mean another quality), so a model
# fitted mostly on the thousands of pre-drift training rows would go on learning the old relation and
# could not fix the error; a few hundred post-drift rows suffice for the quick models below.
DEMO_RETRAINING_POLICY = RetrainingPolicy(
    on=[RetrainTrigger.drift_detected],
    training=TrainingData(source=TrainingSource.production),
    min_labelled_rows=300,
    include=["lr", "ridge", "br", "dt"],
    auto_promote=True,
    margin=0.05,  # the new model must beat the current one by 5 % of its MAE on the post-drift holdout
)
