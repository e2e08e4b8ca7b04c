"""Monitoring links' pure parts: which Evidently reports fit a dataset's task, and the drift bars with
the calibrated threshold the platform decides by (from the data_drift JSON answer)."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from conveyor.schemas.datasets import Task
from conveyor.schemas.monitoring import DataDrift, ReportCalibration, ReportKind
from django_admin.dashboards.common import empty, styled

KIND_LABELS = {ReportKind.data_quality: "Data quality", ReportKind.data_drift: "Data drift",
               ReportKind.target_drift: "Target drift",
               ReportKind.regression_performance: "Regression performance",
               ReportKind.classification_performance: "Classification performance"}
# A performance report of the other task fails on the dataset's target: it is not offered.
NOT_FOR = {Task.regression: ReportKind.classification_performance,
           Task.classification: ReportKind.regression_performance}


def report_kinds(task: Task) -> list[tuple[ReportKind, str]]:
    return [(kind, label) for kind, label in KIND_LABELS.items() if kind != NOT_FOR[task]]


def calibration_of(result: dict[str, Any]) -> ReportCalibration | None:
    found = result.get("calibration")
    return ReportCalibration.model_validate(found) if isinstance(found, dict) else None


def calibration_line(calibration: ReportCalibration | None) -> str:
    """The thresholds' provenance in a sentence, as the platform's checks use them."""
    if calibration is None:
        return "This monitoring_api does not say how its thresholds were set (no calibration in its answer)."
    if calibration.status != "calibrated":
        return f"uncalibrated: {calibration.reason or 'no reason given'}; no drift decision is made on this window."
    parts = [f"calibrated on the reference at windows of {calibration.window_rows:,} rows"
             if calibration.window_rows else "calibrated on the reference"]
    if calibration.false_alarm is not None:
        parts.append(f"target false-alarm rate {calibration.false_alarm:.1%} per check")
    if calibration.per_feature_alpha is not None:
        parts.append(f"{calibration.per_feature_alpha:.3%} per feature after the correction")
    return "Thresholds " + ", ".join(parts) + "." + (f" {calibration.method}" if calibration.method else "")


def drift_bars(drift: DataDrift, calibration: ReportCalibration | None) -> go.Figure:
    """One bar per feature (red: over its threshold), the threshold as a line across each bar."""
    if not drift.columns:
        return empty("no drift figures for this window")
    names = sorted(drift.columns)
    columns = [drift.columns[n] for n in names]
    fig = go.Figure(go.Bar(x=names, y=[c.score for c in columns], name="drift statistic",
                           marker_color=["#c62828" if c.detected else "#2e7d32" for c in columns],
                           customdata=[c.stattest or "" for c in columns],
                           hovertemplate="%{x}: %{y:.3g} (%{customdata})<extra></extra>"))
    calibrated = calibration is not None and calibration.status == "calibrated"
    label = "calibrated threshold" if calibrated else "threshold (not calibrated)"
    fig.add_trace(go.Scatter(x=names, y=[c.threshold for c in columns], mode="markers", name=label,
                             marker={"symbol": "line-ew", "size": 36, "line": {"width": 3, "color": "#212121"}},
                             hovertemplate="%{x}: threshold %{y:.3g}<extra></extra>"))
    fig.update_yaxes(title_text="drift statistic", rangemode="tozero")
    fig.update_xaxes(title_text="feature")
    state = "calibrated" if calibrated else "uncalibrated"
    title = (f"Drift statistic per feature against the {state} threshold "
             f"(red: over; {drift.number_of_drifted_columns} of {drift.number_of_columns} features)")
    return styled(fig, title, 380)
