"""Roasting-machine-like demo data: hourly rows of 17 sensors and the product quality.

The numbers below are summary statistics fitted once to the public roasting-machine rows
(means, standard deviations, correlations, lag-one autocorrelations of consecutive hours,
a least-squares fit of quality on the sensors and the spread of its residual); no rows are
kept. Sensors follow a stationary Gaussian AR(1) process with the fitted correlations and
are clipped to the 0.1-99.9 % range seen; quality is the fitted linear function plus
autocorrelated noise, rounded and clipped like the real labels.

Drift models a sensor fault: chosen sensors are shifted (in their own units) or scaled
from a given row on, while quality stays what the undrifted process makes. So a model
keeps seeing inputs that no longer mean what they meant in training, and both the drift
report and the error on labelled rows show it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

# fmt: off
SENSORS = ['T_data_1_1', 'T_data_1_2', 'T_data_1_3', 'T_data_2_1', 'T_data_2_2', 'T_data_2_3', 'T_data_3_1', 'T_data_3_2', 'T_data_3_3', 'T_data_4_1', 'T_data_4_2', 'T_data_4_3', 'T_data_5_1', 'T_data_5_2', 'T_data_5_3', 'H_data', 'AH_data']
MEANS = [250.0, 249.96, 250.42, 349.75, 349.54, 349.3, 501.36, 500.83, 500.6, 349.01, 349.18, 349.51, 249.44, 249.47, 249.4, 174.7, 7.49]
STDS = [32.63, 29.13, 30.37, 42.72, 39.53, 37.11, 64.75, 62.55, 61.65, 37.88, 38.05, 41.37, 30.32, 29.9, 30.46, 14.32, 1.15]
LOW = [30.7, 137.5, 85.5, -45.7, 83.7, 100.2, 110.9, 150.9, 58.8, 55.0, 100.3, 65.3, 117.2, 90.9, 76.3, 147.3, 3.9]
HIGH = [435.0, 368.7, 389.8, 651.4, 593.0, 605.1, 989.1, 817.3, 800.2, 622.0, 601.3, 687.4, 378.6, 393.8, 388.0, 202.9, 11.1]
CORR = [
    [1.00, 0.66, 0.63, -0.01, 0.00, -0.01, -0.03, -0.01, -0.02, -0.01, -0.02, 0.00, -0.01, -0.02, -0.02, -0.02, 0.01],
    [0.66, 1.00, 0.71, 0.01, -0.00, -0.01, -0.01, -0.02, -0.01, -0.00, -0.03, 0.00, -0.02, -0.02, -0.03, -0.01, 0.02],
    [0.63, 0.71, 1.00, -0.01, -0.01, -0.01, -0.01, 0.00, -0.01, 0.01, 0.00, 0.01, -0.04, -0.04, -0.04, -0.00, 0.01],
    [-0.01, 0.01, -0.01, 1.00, 0.39, 0.39, -0.01, -0.02, -0.03, 0.02, 0.00, 0.01, -0.02, -0.02, -0.02, 0.02, -0.01],
    [0.00, -0.00, -0.01, 0.39, 1.00, 0.43, -0.01, -0.02, -0.02, 0.01, -0.01, 0.01, -0.01, 0.00, -0.00, 0.02, 0.01],
    [-0.01, -0.01, -0.01, 0.39, 0.43, 1.00, -0.01, -0.03, -0.03, 0.04, 0.00, 0.02, -0.02, -0.02, -0.01, 0.01, 0.00],
    [-0.03, -0.01, -0.01, -0.01, -0.01, -0.01, 1.00, 0.52, 0.54, 0.00, -0.02, -0.02, 0.00, -0.00, -0.01, 0.02, -0.00],
    [-0.01, -0.02, 0.00, -0.02, -0.02, -0.03, 0.52, 1.00, 0.54, 0.00, -0.04, -0.01, -0.00, -0.02, -0.01, 0.01, -0.01],
    [-0.02, -0.01, -0.01, -0.03, -0.02, -0.03, 0.54, 0.54, 1.00, 0.00, -0.01, -0.01, -0.01, 0.00, -0.01, 0.01, -0.00],
    [-0.01, -0.00, 0.01, 0.02, 0.01, 0.04, 0.00, 0.00, 0.00, 1.00, 0.42, 0.40, -0.01, 0.00, 0.01, 0.01, -0.02],
    [-0.02, -0.03, 0.00, 0.00, -0.01, 0.00, -0.02, -0.04, -0.01, 0.42, 1.00, 0.39, -0.01, -0.01, -0.01, -0.01, -0.01],
    [0.00, 0.00, 0.01, 0.01, 0.01, 0.02, -0.02, -0.01, -0.01, 0.40, 0.39, 1.00, 0.01, 0.00, 0.01, -0.00, -0.00],
    [-0.01, -0.02, -0.04, -0.02, -0.01, -0.02, 0.00, -0.00, -0.01, -0.01, -0.01, 0.01, 1.00, 0.68, 0.67, 0.02, -0.02],
    [-0.02, -0.02, -0.04, -0.02, 0.00, -0.02, -0.00, -0.02, 0.00, 0.00, -0.01, 0.00, 0.68, 1.00, 0.68, 0.02, -0.01],
    [-0.02, -0.03, -0.04, -0.02, -0.00, -0.01, -0.01, -0.01, -0.01, 0.01, -0.01, 0.01, 0.67, 0.68, 1.00, 0.02, -0.01],
    [-0.02, -0.01, -0.00, 0.02, 0.02, 0.01, 0.02, 0.01, 0.01, 0.01, -0.01, -0.00, 0.02, 0.02, 0.02, 1.00, -0.02],
    [0.01, 0.02, 0.01, -0.01, 0.01, 0.00, -0.00, -0.01, -0.00, -0.02, -0.01, -0.00, -0.02, -0.01, -0.01, -0.02, 1.00],
]
AR1 = [0.74, 0.82, 0.81, 0.57, 0.59, 0.65, 0.66, 0.77, 0.81, 0.78, 0.76, 0.69, 0.77, 0.83, 0.82, 0.8, 0.0]
QUALITY_INTERCEPT = 448.004
QUALITY_COEF = [0.0668, 0.1273, 0.1132, 0.0353, 0.0344, 0.064, -0.2061, -0.2367, -0.2564, 0.0091, -0.0134, -0.0096, 0.1109, 0.1598, 0.1404, 0.489, -0.2475]
QUALITY_NOISE_SD = 23.77
QUALITY_NOISE_AR1 = 0.61
QUALITY_RANGE = (221.0, 501.0)

# fmt: on
TARGET = "quality"
TIMESTAMP = "date_time"
# Temperatures are whole degrees in the source; humidity has two decimals.
DECIMALS = {name: (2 if name in ("H_data", "AH_data") else 0) for name in SENSORS}


@dataclass(frozen=True)
class Drift:
    """Shift and/or scale `features` from row `from_row` on (shift in the feature's own units)."""

    features: Sequence[str]
    from_row: int = 0
    shift: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.features) - set(SENSORS))
        if unknown:
            raise ValueError(f"unknown sensor(s) {unknown}; choose from {SENSORS}")
        if self.from_row < 0:
            raise ValueError("from_row must be 0 or more")


def _cholesky(corr: np.ndarray) -> np.ndarray:
    # The rounded matrix may be a hair off positive definite: clip its eigenvalues.
    values, vectors = np.linalg.eigh(corr)
    fixed = vectors @ np.diag(np.clip(values, 1e-6, None)) @ vectors.T
    scale = np.sqrt(np.diag(fixed))
    return np.linalg.cholesky(fixed / np.outer(scale, scale))


def _ar1(rng: np.random.Generator, rows: int, phi: np.ndarray, chol: np.ndarray | None) -> np.ndarray:
    width = len(phi)
    shocks = rng.standard_normal((rows, width))
    if chol is not None:
        shocks = shocks @ chol.T
    out = np.empty((rows, width))
    out[0] = shocks[0]
    innovation = np.sqrt(1 - phi**2)
    for t in range(1, rows):
        out[t] = phi * out[t - 1] + innovation * shocks[t]
    return out


def generate(
    rows: int, seed: int = 0, start: str | datetime = "2015-01-04 00:00",
    drift: Sequence[Drift] | None = None,
) -> pd.DataFrame:
    """`rows` hourly rows from `start`: date_time, the 17 sensors and quality."""
    if rows < 1:
        raise ValueError("rows must be at least 1")
    rng = np.random.default_rng(seed)
    z = _ar1(rng, rows, np.asarray(AR1), _cholesky(np.asarray(CORR)))
    sensors = np.asarray(MEANS) + z * np.asarray(STDS)
    sensors = np.clip(sensors, LOW, HIGH)
    noise = _ar1(rng, rows, np.asarray([QUALITY_NOISE_AR1]), None)[:, 0] * QUALITY_NOISE_SD
    quality = np.clip(QUALITY_INTERCEPT + sensors @ np.asarray(QUALITY_COEF) + noise, *QUALITY_RANGE)
    frame = pd.DataFrame(sensors, columns=SENSORS)
    for d in drift or ():
        rows_affected = frame.index >= d.from_row
        for name in d.features:
            frame.loc[rows_affected, name] = frame.loc[rows_affected, name] * d.scale + d.shift
    for name, places in DECIMALS.items():
        frame[name] = frame[name].round(places)
    frame.insert(0, TIMESTAMP, pd.date_range(pd.Timestamp(start), periods=rows, freq="h"))
    frame[TARGET] = np.round(quality).astype(int)
    return frame


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, date_format="%Y-%m-%d %H:%M:%S")
    return path
