"""A report request: fetch the windows, check them, run the engine, answer JSON or HTML."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from conveyor.api.errors import Unprocessable
from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.lookups import dataset_schema
from conveyor.lru import LRU
from conveyor.schemas.datasets import DatasetSchema, FeatureType, Task
from conveyor.windows import Frame, WindowSpec, count, fetch
from monitoring_api.calibration import Calibration, CalibrationCache, StatTests, window_calibration
from monitoring_api.reports import ReportKind, Windows, html_report, json_report

PREDICTION = "prediction"
LABEL = "label"
PERFORMANCE = {ReportKind.regression_performance, ReportKind.classification_performance}


@dataclass(frozen=True)
class ReportRequest:
    kind: ReportKind
    dataset: str
    service: str | None
    reference: WindowSpec
    current: WindowSpec
    columns: tuple[str, ...] | None
    html: bool


class HtmlCache(LRU[str, str]):
    """Evidently's HTML for identical parameters over identical data is built once."""


def _columns(schema: DatasetSchema, wanted: tuple[str, ...] | None) -> tuple[list[str], list[str]]:
    names = list(wanted) if wanted else schema.feature_names
    unknown = [n for n in names if n not in schema.feature_names]
    if unknown:
        raise Unprocessable(f"unknown column(s) {unknown}; dataset {schema.name!r} has {schema.feature_names}")
    types = {f.name: f.type for f in schema.features}
    numerical = [n for n in names if types[n] in (FeatureType.float, FeatureType.int)]
    return numerical, [n for n in names if n not in numerical]


def build_windows(kind: ReportKind, schema: DatasetSchema, reference: Frame, current: Frame,
                  columns: tuple[str, ...] | None) -> Windows:
    numerical, categorical = _columns(schema, columns)
    if current.total == 0:
        raise Unprocessable("the current window has no rows: widen it (current_rows, current_hours or start/end)")
    cur = current.rows
    classification = schema.task is Task.classification
    if kind in PERFORMANCE:
        cur = cur[cur[LABEL].notna()] if LABEL in cur else cur.iloc[0:0]
        if cur.empty:
            raise Unprocessable("no row of the current window has a label yet: wait for ground truth or widen it")
        want = ReportKind.classification_performance if classification else ReportKind.regression_performance
        if kind is not want:
            raise Unprocessable(f"dataset {schema.name!r} is a {schema.task.value} task: use {want.value}")
        frame = cur.assign(**{schema.target: cur[LABEL]})
        return Windows(None, frame, numerical, categorical, schema.target, PREDICTION, classification)
    if reference.total == 0:
        raise Unprocessable("the reference window has no rows: load training rows or choose another reference")
    ref = reference.rows
    if kind is ReportKind.target_drift:
        # Training rows have no predictions: the reference for prediction drift is the target itself.
        if PREDICTION not in ref:
            ref = ref.assign(**{PREDICTION: ref[schema.target]})
        if LABEL in ref:
            ref = ref.assign(**{schema.target: ref[LABEL]})
        labeled = cur[LABEL].notna().sum() if LABEL in cur else 0
        target = schema.target if labeled else None
        cur = cur.assign(**{schema.target: cur[LABEL]}) if labeled else cur
        if target is None:
            ref = ref.drop(columns=[schema.target])
        return Windows(ref, cur, [], [], target, PREDICTION, classification)
    return Windows(ref, cur, numerical, categorical, None, None, classification)


def _fingerprint(*frames: pd.DataFrame | None) -> str:
    digest = hashlib.sha256()
    for frame in frames:
        if frame is not None:
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


async def _fetch_reference(ml: MLDataClient, schema: DatasetSchema, kind: ReportKind, spec: WindowSpec,
                           cap: int) -> tuple[WindowSpec, Frame]:
    """A drift report's reference is its latest `cap` rows in time order, not a sample of them.

    Drift thresholds are calibrated on contiguous blocks of the reference: a sample spread
    over a longer time would vary less than a window of consecutive rows does.
    """
    if kind is not ReportKind.data_drift or spec.last is not None:
        return spec, await fetch(ml, schema, spec, cap)
    total = await count(ml, schema, spec)
    if total <= cap:
        return spec, await fetch(ml, schema, spec, cap)
    latest = replace(spec, last=cap)
    frame = await fetch(ml, schema, latest, cap)
    return latest, Frame(frame.rows, total)


def drift_calibration(schema: DatasetSchema, windows: Windows, calibrations: CalibrationCache, false_alarm: float,
                      stattests: StatTests) -> Calibration:
    if windows.reference is None:  # build_windows refuses a drift report without reference rows first
        raise ValueError("a drift calibration needs the reference window")
    return window_calibration(calibrations, schema.name, windows.reference, windows.numerical, windows.categorical,
                              len(windows.current), false_alarm, stattests)


def _window_info(spec: WindowSpec, frame: Frame) -> dict[str, Any]:
    return {"split": spec.split, "rows": len(frame.rows), "total": frame.total, "sampled": frame.sampled,
            "start": spec.start, "end": spec.end, "last": spec.last}


async def run(request: ReportRequest, qm: QueueManagerClient, ml: MLDataClient, cap: int, cache: HtmlCache, *,
              calibrations: CalibrationCache | None = None, false_alarm: float = 0.01,
              stattests: StatTests = StatTests(), reference_rows: int | None = None) -> dict[str, Any] | str:
    """`calibrations`: the process's cache of drift calibrations (None: calibrate for this request only);
    `reference_rows`: the latest training rows the checks compare with (a drift report on the whole training
    split uses the same ones, so it shows the thresholds the checks decide with)."""
    schema = await dataset_schema(qm, request.dataset)
    performance = request.kind in PERFORMANCE
    current = await fetch(ml, schema, request.current, cap)
    checks_reference = request.kind is ReportKind.data_drift and request.reference == WindowSpec("training")
    reference_cap = min(cap, reference_rows) if reference_rows and checks_reference else cap
    if performance:
        reference_spec, reference = request.reference, Frame(pd.DataFrame(), 0)
    else:
        reference_spec, reference = await _fetch_reference(ml, schema, request.kind, request.reference,
                                                           reference_cap)
    windows = build_windows(request.kind, schema, reference, current, request.columns)
    calibration = None
    if request.kind is ReportKind.data_drift:
        calibration = await asyncio.to_thread(drift_calibration, schema, windows, calibrations or CalibrationCache(1),
                                              false_alarm, stattests)
    if request.html:
        key = f"{request!r}:{false_alarm}:{stattests!r}:{_fingerprint(windows.reference, windows.current)}"
        html = cache.get(key)
        if html is None:
            html = await asyncio.to_thread(html_report, request.kind, windows, calibration)
            cache.put(key, html)
        return html
    result = await asyncio.to_thread(json_report, request.kind, windows, calibration)
    return {
        "kind": request.kind.value, "dataset": schema.name, "service": request.service,
        "reference": None if performance else _window_info(reference_spec, reference),
        "current": _window_info(request.current, current),
        "sample_cap": cap, "result": result,
    }
