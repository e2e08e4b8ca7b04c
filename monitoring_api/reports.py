"""Evidently reports over a reference and a current window, as JSON summaries or HTML.

Pure functions over DataFrames: the HTTP layer fetches and samples the windows, this
module only computes. Evidently 0.7's classic presets live under `evidently.legacy`. Its HTML embeds its
own script bundle and icon font (it loads nothing from another site); it still goes through
`conveyor.html_assets.offline_page`, so a later Evidently linking plotly.js from a CDN still works offline.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from conveyor.html_assets import offline_page
from conveyor.jsonsafe import json_safe
from conveyor.schemas.monitoring import DriftStatus, ReportKind
from monitoring_api.calibration import Calibration
from monitoring_api.drift import decide


@dataclass(frozen=True)
class Windows:
    """The two frames to compare and what their columns mean."""

    reference: pd.DataFrame | None
    current: pd.DataFrame
    numerical: list[str]
    categorical: list[str] = field(default_factory=list)
    target: str | None = None
    prediction: str | None = None
    classification: bool = False

    @property
    def features(self) -> list[str]:
        return [*self.numerical, *self.categorical]


def sample(frame: pd.DataFrame, cap: int, seed: int = 0) -> pd.DataFrame:
    """At most `cap` rows, drawn without replacement; the order of time is kept."""
    if cap <= 0 or len(frame) <= cap:
        return frame
    return frame.sample(n=cap, random_state=seed).sort_index()


def _column_mapping(w: Windows) -> Any:
    from evidently.legacy.pipeline.column_mapping import ColumnMapping

    extra = {}
    if w.classification and w.target:
        # Evidently's positive label defaults to 1; with named classes, pick the last one.
        labels = sorted(map(str, w.current[w.target].dropna().unique()))
        if labels:
            extra["pos_label"] = labels[-1]
    return ColumnMapping(
        target=w.target,
        prediction=w.prediction,
        numerical_features=w.numerical,
        categorical_features=w.categorical,
        task="classification" if w.classification else "regression",
        **extra,
    )


def _drift_options(calibration: Calibration | None) -> dict[str, Any]:
    """Evidently runs the platform's statistics at the calibrated thresholds, so its report marks what we decide.

    Uncalibrated, Evidently's default thresholds stay for display only (the JSON decides nothing then).
    """
    if calibration is None:
        raise ValueError("a data drift report needs the calibration of its reference at the window's size")
    options: dict[str, Any] = {"per_column_stattest": dict(calibration.statistics)}
    if calibration.status is DriftStatus.calibrated:
        options["per_column_stattest_threshold"] = dict(calibration.thresholds)
    return options


def _metrics(kind: ReportKind, w: Windows, html: bool, calibration: Calibration | None) -> list[Any]:
    from evidently.legacy import metric_preset as presets
    from evidently.legacy import metrics as m

    if kind is ReportKind.data_quality:
        return [presets.DataQualityPreset(columns=w.features)]
    if kind is ReportKind.data_drift:
        options = _drift_options(calibration)
        if not html:
            return [m.DataDriftTable(columns=w.features, **options)]
        if calibration is not None and calibration.status is DriftStatus.calibrated:
            # One column over its (already corrected) threshold is dataset drift, as in the checks.
            options["drift_share"] = 1 / max(len(w.features), 1)
        return [presets.DataDriftPreset(columns=w.features, **options)]
    if kind is ReportKind.target_drift:
        columns = [c for c in (w.target, w.prediction) if c]
        if html:
            return [presets.TargetDriftPreset()]
        return [m.ColumnDriftMetric(column_name=c) for c in columns]
    if kind is ReportKind.regression_performance:
        return [presets.RegressionPreset()] if html else [m.RegressionQualityMetric()]
    if kind is ReportKind.classification_performance:
        return [presets.ClassificationPreset()] if html else [m.ClassificationQualityMetric()]
    raise ValueError(f"unknown report kind {kind}")


def run_report(kind: ReportKind, w: Windows, html: bool = False, calibration: Calibration | None = None) -> Any:
    """Evidently's report; a data drift one needs `calibration` (see `monitoring_api.calibration`)."""
    from evidently.legacy.report import Report

    report = Report(metrics=_metrics(kind, w, html, calibration))
    columns = [*w.features, *(c for c in (w.target, w.prediction) if c)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.run(
            reference_data=None if w.reference is None else w.reference[columns],
            current_data=w.current[columns], column_mapping=_column_mapping(w),
        )
    return report


def _drift_entry(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "detected": bool(result["drift_detected"]),
        "score": result["drift_score"],
        "stattest": result["stattest_name"],
        "threshold": result["stattest_threshold"],
        "column_type": result.get("column_type"),
    }


def calibration_summary(calibration: Calibration) -> dict[str, Any]:
    return {"status": calibration.status.value, "reason": calibration.reason, "window_rows": calibration.window_rows,
            "reference_rows": calibration.reference_rows, "false_alarm": calibration.false_alarm,
            "per_feature_alpha": calibration.per_feature_alpha, "blocks": calibration.blocks,
            "seconds": calibration.seconds, "method": calibration.method}


def _drift_summary(table: dict[str, Any], calibration: Calibration) -> dict[str, Any]:
    """Evidently's per-column statistics, decided by the calibrated thresholds (`monitoring_api.drift.decide`)."""
    by_column = table["drift_by_columns"]
    features, decision = decide(calibration, {name: entry["drift_score"] for name, entry in by_column.items()})
    columns = {
        name: _drift_entry(entry) | {"detected": features[name].exceeded, "threshold": features[name].threshold}
        for name, entry in by_column.items()
    }
    drifted = len(decision.features_exceeded)
    return json_safe({
        "dataset_drift": decision.detected,
        "share_of_drifted_columns": drifted / len(columns) if columns else 0.0,
        "number_of_drifted_columns": drifted,
        "number_of_columns": len(columns),
        "columns": columns,
        "calibration": calibration_summary(calibration),
        "decision": decision.model_dump(mode="json"),
    })


def summarize(kind: ReportKind, report: Any, calibration: Calibration | None = None) -> dict[str, Any]:
    """The parts of Evidently's result a machine acts on, in a stable shape."""
    results = [metric["result"] for metric in report.as_dict()["metrics"]]
    if kind is ReportKind.data_drift:
        if calibration is None:
            raise ValueError("a data drift summary needs the calibration its report ran with")
        return _drift_summary(results[0], calibration)
    if kind is ReportKind.target_drift:
        return json_safe({"columns": {r["column_name"]: _drift_entry(r) for r in results}})
    if kind is ReportKind.regression_performance:
        quality = results[0]
        return json_safe({
            window: _regression_numbers(quality[window])
            for window in ("current", "reference") if quality.get(window)
        })
    if kind is ReportKind.classification_performance:
        quality = results[0]
        return json_safe({
            window: {k: v for k, v in quality[window].items() if not isinstance(v, dict | list)}
            for window in ("current", "reference") if quality.get(window)
        })
    if kind is ReportKind.data_quality:
        summary = results[0]
        columns = {}
        for result in results[1:]:
            if "column_name" in result:
                columns[result["column_name"]] = {
                    window: {
                        k: v for k, v in (result.get(f"{window}_characteristics") or {}).items()
                        if not isinstance(v, dict | list)
                    }
                    for window in ("current", "reference")
                }
        return json_safe({
            "dataset": {w: summary.get(w) for w in ("current", "reference")},
            "columns": columns,
        })
    raise ValueError(f"unknown report kind {kind}")


def _regression_numbers(window: dict[str, Any]) -> dict[str, Any]:
    mae = window["mean_abs_error"]
    rmse = window["rmse"]
    return {
        "mae": mae, "rmse": rmse, "r2": window["r2_score"], "mean_error": window["mean_error"],
        "mape": window["mean_abs_perc_error"], "error_std": window["error_std"],
    }


def json_report(kind: ReportKind, w: Windows, calibration: Calibration | None = None) -> dict[str, Any]:
    return summarize(kind, run_report(kind, w, html=False, calibration=calibration), calibration)


def html_report(kind: ReportKind, w: Windows, calibration: Calibration | None = None) -> str:
    return offline_page(run_report(kind, w, html=True, calibration=calibration).get_html())
