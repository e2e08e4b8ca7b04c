"""The demo generator: deterministic, shaped like the real roasting-machine rows."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conveyor_tools import datagen
from conveyor_tools.demo_dataset import DEMO_DATASET, DEMO_FEATURES, demo_splits, demo_stream

REAL = Path(__file__).resolve().parents[2] / "shared/data/production_quality/pq_sensors_quality_5837.csv"


def test_deterministic_for_a_seed() -> None:
    pd.testing.assert_frame_equal(datagen.generate(500, seed=3), datagen.generate(500, seed=3))
    assert not datagen.generate(500, seed=3).equals(datagen.generate(500, seed=4))


def test_columns_and_hourly_times() -> None:
    frame = datagen.generate(48, start="2020-05-01 06:00")
    assert list(frame.columns) == ["date_time", *datagen.SENSORS, "quality"]
    assert frame["date_time"].iloc[0] == pd.Timestamp("2020-05-01 06:00")
    assert (frame["date_time"].diff().dropna() == pd.Timedelta(hours=1)).all()
    assert len(datagen.SENSORS) == 17


@pytest.mark.skipif(not REAL.exists(), reason="shared roasting-machine data not beside the repository")
def test_shaped_like_the_real_rows() -> None:
    real = pd.read_csv(REAL)
    fake = datagen.generate(20_000, seed=11)
    for column in [*datagen.SENSORS, "quality"]:
        assert fake[column].mean() == pytest.approx(real[column].mean(), rel=0.03), column
        assert fake[column].std() == pytest.approx(real[column].std(), rel=0.15), column
        assert fake[column].between(real[column].min(), real[column].max()).all(), column
    real_corr = real[datagen.SENSORS].corrwith(real["quality"])
    fake_corr = fake[datagen.SENSORS].corrwith(fake["quality"])
    strongest = real_corr.abs().sort_values().index[-5:]
    for column in strongest:
        assert np.sign(fake_corr[column]) == np.sign(real_corr[column])
        assert fake_corr[column] == pytest.approx(real_corr[column], abs=0.08), column
    # Hourly readings are smooth in time, like the real ones.
    lag1 = np.corrcoef(fake["T_data_3_3"].to_numpy()[1:], fake["T_data_3_3"].to_numpy()[:-1])[0, 1]
    assert 0.6 < lag1 < 0.95


def test_drift_moves_only_the_chosen_sensors_from_the_row_on() -> None:
    drift = [datagen.Drift(features=["T_data_1_1", "H_data"], from_row=1000, shift=40.0)]
    base = datagen.generate(2000, seed=5)
    drifted = datagen.generate(2000, seed=5, drift=drift)
    pd.testing.assert_frame_equal(base.iloc[:1000], drifted.iloc[:1000])
    delta = (drifted.iloc[1000:] - base.iloc[1000:]).drop(columns="date_time")
    assert delta["T_data_1_1"].mean() == pytest.approx(40, abs=0.6)
    assert delta["H_data"].mean() == pytest.approx(40, abs=0.01)
    others = delta.drop(columns=["T_data_1_1", "H_data"])
    assert (others == 0).all().all(), "quality and the other sensors are untouched"
    scaled = datagen.generate(2000, seed=5, drift=[datagen.Drift(features=["AH_data"], from_row=0, scale=2.0)])
    assert scaled["AH_data"].mean() == pytest.approx(2 * base["AH_data"].mean(), rel=0.01)
    with pytest.raises(ValueError, match="unknown sensor"):
        datagen.Drift(features=["T_data_9_9"])


def test_demo_splits_and_stream() -> None:
    training, testing = demo_splits(rows=1000, seed=1)
    assert (len(training), len(testing)) == (800, 200)
    assert list(training.columns) == ["date_time", *DEMO_FEATURES, "quality"]
    assert training["date_time"].max() < testing["date_time"].min()
    stream = demo_stream(10, after_rows=1000)
    assert stream["date_time"].iloc[0] == testing["date_time"].iloc[-1] + pd.Timedelta(hours=1)
    assert DEMO_DATASET.feature_names == DEMO_FEATURES and len(DEMO_FEATURES) == 11
