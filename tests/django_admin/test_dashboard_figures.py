"""The dashboards' figures and tables, built from hand-made API shapes (pure: no services, no browser)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import plotly.graph_objects as go
import pytest

from conveyor.schemas.datasets import Task
from conveyor.schemas.jobs import JobStats, LatencyPercentiles, LatencyPoint, ThroughputPoint, WorkerStats
from conveyor.schemas.monitoring import (
    CheckPoint,
    ColumnDrift,
    DataDrift,
    DriftDecision,
    DriftStatus,
    Episode,
    EpisodePage,
    EpisodeStatus,
    Estimate,
    FeatureDrift,
    Metrics,
    PerformanceVerdict,
    ReferenceError,
    ReportKind,
)
from conveyor.schemas.retraining import HoldoutSource, Run, RunProgress, RunStatus, TrainingSource, Waiting
from django_admin.dashboards import (
    episode_table,
    main_figures,
    monitoring_figures,
    pacing,
    report_figures,
    retraining_figures,
    retraining_form,
)
from django_admin.dashboards.check_series import series
from django_admin.dashboards.common import table

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FEATURES = ["a", "b", "c"]


def check(minute: float, values: dict[str, float] | None = None, mae: float | None = 10.0,
          estimated: float | None = 11.0, calibrated: bool = True) -> CheckPoint:
    values = values or {"a": 0.05, "b": 0.1, "c": 0.2}
    drift = {n: FeatureDrift(statistic="wasserstein", value=v, threshold=0.1 if calibrated else None,
                             exceeded=calibrated and v > 0.1) for n, v in values.items()}
    over = [n for n, d in drift.items() if d.exceeded]
    decision = DriftDecision(status=DriftStatus.calibrated if calibrated else DriftStatus.uncalibrated,
                             detected=bool(over), reason="reason" if calibrated else "the reference is too small",
                             false_alarm=0.01, features_exceeded=over)
    return CheckPoint(
        id=int(minute * 10), service="s", dataset="d", at=T0 + timedelta(minutes=minute), rows_current=500,
        rows_labeled=300, drift_share=len(over) / len(drift) if calibrated else None, dataset_drift=bool(over),
        drift=drift, drift_decision=decision, target_drift=None, prediction_drift=None, mae=mae, rmse=None,
        r2=None, realized=Metrics(rows=300, mae=mae),
        estimated=Estimate(method="DLE", mae=estimated, rows=500) if estimated is not None else None,
        reference_error=ReferenceError(model="m", version=1, source="registered holdout metrics", mae=9.0),
        performance=[PerformanceVerdict(metric="mae", value=mae, reference=9.0, limit=10.35, degraded=False,
                                        estimated=False, reason="")])


def episode(id_: int, kind: str = "drift_detected", start: float = 1, end: float | None = 2) -> Episode:
    return Episode(id=id_, service="s", dataset="d", kind=kind,
                   status=EpisodeStatus.resolved if end is not None else EpisodeStatus.open,
                   started_at=T0 + timedelta(minutes=start),
                   ended_at=T0 + timedelta(minutes=end) if end is not None else None,
                   first_check_id=1, last_check_id=2, checks=2, features=["b", "c"], worst={"drift_share": 0.67})


def spans(fig: go.Figure) -> list[Any]:
    return [s for s in fig.layout.shapes if s.type == "rect"]


def test_a_gap_of_more_than_two_intervals_breaks_the_series() -> None:
    checks = [check(m) for m in (0, 1, 2, 3, 10, 11)]
    points = series(checks, lambda c: {"mae": c.mae})
    assert len(points.at) == 7 and points.column("mae")[4] is None, "one break inside the 7-minute gap"
    assert points.at[4] == T0 + timedelta(minutes=6.5)
    assert None not in series(checks[:4], lambda c: {"mae": c.mae}).column("mae"), "no break without a gap"


def test_drift_figure_draws_the_ratio_against_1_and_the_share_from_0_to_1_with_episode_spans() -> None:
    checks = [check(0), check(1, {"a": 0.3, "b": 0.05, "c": 0.05}), check(2)]
    fig = monitoring_figures.drift_figure(checks, [episode(1), episode(2, "performance_degraded")], T0)
    ratio, share = fig.data[0], fig.data[1]
    assert list(ratio.y) == pytest.approx([2.0, 3.0, 2.0]), "the largest statistic over its threshold per check"
    assert list(share.y) == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    assert list(fig.layout.yaxis2.range) == [0, 1]
    assert any(s.type == "line" and s.y0 == 1 for s in fig.layout.shapes), "the rule's line at 1"
    rects = spans(fig)
    assert rects and {r.fillcolor for r in rects} == {monitoring_figures.EPISODE_COLOURS["drift_detected"]}, \
        "drift episodes only, as spans"
    assert fig.layout.xaxis2.title.text == "time (UTC)" and fig.layout.yaxis.title.text


def test_an_open_episode_spans_until_now() -> None:
    now = T0 + timedelta(minutes=30)
    fig = monitoring_figures.drift_figure([check(0), check(1)], [episode(1, end=None)], now)
    assert {r.x1 for r in spans(fig)} == {now}


def test_heat_strip_holds_each_feature_ratio_per_check() -> None:
    fig = monitoring_figures.heat_strip([check(0), check(1)], [], T0)
    heat = fig.data[0]
    assert heat.type == "heatmap" and list(heat.y) == ["c", "b", "a"]
    assert [list(row) for row in heat.z] == [pytest.approx(r) for r in ([2.0, 2.0], [1.0, 1.0], [0.5, 0.5])]


def test_heat_strip_of_uncalibrated_checks_shows_statistics_and_says_so() -> None:
    fig = monitoring_figures.heat_strip([check(0, calibrated=False)], [], T0)
    assert "uncalibrated" in fig.layout.title.text and list(fig.data[0].z[0]) == [0.2]
    assert "1 of 2 checks uncalibrated" in monitoring_figures.drift_figure(
        [check(0, calibrated=False), check(1)], [], T0).layout.title.text


def test_performance_figure_puts_realized_estimated_reference_and_limit_on_one_chart() -> None:
    checks = [check(0, mae=10, estimated=12), check(1, mae=None, estimated=13)]
    fig = monitoring_figures.performance_figure(checks, [episode(1, "performance_degraded")], Task.regression,
                                                "quality", T0)
    realized, estimated = fig.data[0], fig.data[1]
    assert list(realized.y) == [10, None] and realized.line.dash is None
    assert list(estimated.y) == [12, 13] and estimated.line.dash == "dash" and "DLE" in estimated.name
    lines = {s.y0 for s in fig.layout.shapes if s.type == "line"}
    assert lines == {9.0, 10.35}, "the model's reference error and the tolerance limit"
    assert fig.layout.yaxis.title.text == "MAE, in units of quality"
    assert len(spans(fig)) == 1


def test_episode_paging_stays_within_the_episodes() -> None:
    assert episode_table.page_offset(0, -1, 25) == 0
    assert episode_table.page_offset(10, 1, 25) == 20
    assert episode_table.page_offset(20, 1, 25) == 20
    assert episode_table.paging_disabled(0, 25) == (True, False)
    assert episode_table.paging_disabled(20, 25) == (False, True)
    page = EpisodePage(total=25, items=[episode(i) for i in range(5)])
    assert episode_table.page_label(page, 20) == "episodes 21–25 of 25 (newest first)"
    row = episode_table.episode_row(episode(3))
    assert row["features"] == "b, c" and row["worst"] == "drift_share 0.67" and row["status"] == "resolved"


def test_only_the_reports_of_the_dataset_task_are_offered() -> None:
    regression = [k for k, _ in report_figures.report_kinds(Task.regression)]
    assert ReportKind.classification_performance not in regression and ReportKind.regression_performance in regression
    classification = [k for k, _ in report_figures.report_kinds(Task.classification)]
    assert ReportKind.regression_performance not in classification and len(classification) == 4


def test_drift_bars_carry_the_calibrated_threshold_of_each_feature() -> None:
    drift = DataDrift(dataset_drift=True, share_of_drifted_columns=0.5, number_of_drifted_columns=1,
                      number_of_columns=2, columns={
                          "a": ColumnDrift(detected=True, score=0.3, stattest="wasserstein", threshold=0.12),
                          "b": ColumnDrift(detected=False, score=0.05, stattest="wasserstein", threshold=0.1)})
    result = {"calibration": {"status": "calibrated", "window_rows": 1000, "false_alarm": 0.01,
                              "per_feature_alpha": 0.0009, "method": "Blocks."}}
    calibration = report_figures.calibration_of(result)
    fig = report_figures.drift_bars(drift, calibration)
    assert list(fig.data[1].y) == [0.12, 0.1] and fig.data[1].name == "calibrated threshold"
    assert list(fig.data[0].marker.color) == ["#c62828", "#2e7d32"]
    assert "windows of 1,000 rows" in report_figures.calibration_line(calibration)
    uncalibrated = report_figures.calibration_of({"calibration": {"status": "uncalibrated", "reason": "too few"}})
    assert report_figures.calibration_line(uncalibrated).startswith("uncalibrated: too few")


def run(**fields: Any) -> Run:
    base: dict[str, Any] = {"id": 7, "dataset": "d", "algorithm": "m", "status": RunStatus.finished,
                            "progress": RunProgress(stage="done", percent=100), "created_at": T0,
                            "request": {"training": {"source": "training+production"},
                                        "holdout": {"source": "production", "last": 300}},
                            "new_version": 3, "previous_version": 2}
    return Run(**{**base, **fields})


def test_runs_show_their_episode_and_how_many_labels_they_wait_for() -> None:
    triggered = run(trigger={"event": "drift_detected", "service": "s",
                             "episode": episode(4).model_dump(mode="json")},
                    status=RunStatus.waiting_for_labels, waiting=Waiting(have=120, need=300, since=T0))
    row = retraining_figures.run_row(triggered)
    assert row["trigger"].startswith("drift_detected episode 4 on s from 2026-12-01 12:01:00 (b, c)")
    assert row["status"].startswith("waiting for labels: 120 of 300")
    assert row["data"] == "training+production; holdout latest 300 production rows"
    assert retraining_figures.run_row(run())["trigger"] == "manual"


def test_promote_is_offered_only_for_a_finished_run_not_promoted_yet() -> None:
    assert retraining_figures.promotable(run())[0]
    assert not retraining_figures.promotable(run(promoted=True))[0]
    assert not retraining_figures.promotable(run(status=RunStatus.running, new_version=None))[0]


def test_errors_and_ratios_are_on_their_own_scales_with_the_values_written() -> None:
    comparison = {"retrained_model_results": {"MAE": 9.5, "RMSE": 12.0, "R2": 0.8, "MAPE": 0.05},
                  "previous_model_results": {"MAE": 11.0, "RMSE": 14.0, "R2": 0.7, "MAPE": 0.06}}
    fig = retraining_figures.comparison_figure(run(comparison=comparison))
    by_axis = {(t.xaxis, t.name): list(t.x) for t in fig.data}
    assert by_axis[("x", "retrained v3")] == ["MAE", "RMSE"] and by_axis[("x2", "retrained v3")] == ["R2", "MAPE"]
    assert list(fig.data[0].text) == ["9.5", "12"]


def test_the_start_form_asks_for_the_chosen_source_window_and_holdout() -> None:
    body = retraining_form.run_request("d|m|s", "training+production", "2026-12-01 10:00", "", "production", 300,
                                       ["lr"], True, 0.05)
    assert body.service == "s" and body.training.source == TrainingSource.training_and_production
    assert body.training.start == datetime(2026, 12, 1, 10, tzinfo=UTC) and body.training.end is None
    assert body.holdout.source == HoldoutSource.production and body.holdout.last == 300
    with pytest.raises(ValueError, match="training end 'yesterday' is not a time"):
        retraining_form.run_request("d|m|s", "training", None, "yesterday", "testing", None, [], False, None)
    with pytest.raises(ValueError, match="training.start must be before training.end"):
        retraining_form.run_request("d|m|s", "training", "2026-12-02", "2026-12-01", "testing", None, [], False, None)


def test_a_drift_figure_of_uncalibrated_checks_only_says_why_there_is_no_decision() -> None:
    fig = monitoring_figures.drift_figure([check(0, calibrated=False), check(1, calibrated=False)], [], T0)
    assert "2 of 2 checks uncalibrated" in fig.layout.title.text
    assert any("the reference is too small" in a.text for a in fig.layout.annotations)


def test_the_limit_comes_from_the_estimate_until_labels_decide() -> None:
    early = check(0)
    early.performance = [
        PerformanceVerdict(metric="mae", value=10, reference=9.0, limit=None, degraded=False, estimated=False,
                           decided=False, reason="too few labelled rows"),
        PerformanceVerdict(metric="mae", value=11, reference=9.0, limit=10.35, degraded=True, estimated=True,
                           reason="")]
    fig = monitoring_figures.performance_figure([early], [], Task.regression, "quality", T0)
    assert {s.y0 for s in fig.layout.shapes if s.type == "line"} == {9.0, 10.35}


# -- the main dashboard, from one JobStats answer (the per-minute aggregates), and the refreshes' pacing

def job_stats(throughput: list[tuple[float, int, bool]], latency: list[tuple[float, float]] | None = None,
              workers: list[WorkerStats] | None = None) -> JobStats:
    """throughput: (minute, finished jobs, partial); latency: (minute, p50 seconds)."""
    return JobStats(
        service=None, window_minutes=60, counts={"created": 0, "processing": 2, "finished": 900, "failed": 3},
        throughput_per_minute=[ThroughputPoint(minute=T0 + timedelta(minutes=m), count=c, partial=p)
                               for m, c, p in throughput],
        latency_seconds=LatencyPercentiles(p50=0.04, p95=0.09, p99=0.2),
        latency_per_minute=[LatencyPoint(minute=T0 + timedelta(minutes=m), p50=v, p95=2 * v, p99=3 * v)
                            for m, v in latency or []],
        workers=workers or [])


def test_the_current_minute_is_drawn_apart_as_so_far_not_as_a_drop() -> None:
    fig = main_figures.throughput(job_stats([(0, 300, False), (1, 310, False), (3, 290, False), (4, 12, True)]).
                                  throughput_per_minute)
    line, current = fig.data
    # Complete minutes only on the line; the minute without finished jobs inside the range is a true 0.
    assert list(line.y) == [300, 310, 0, 290]
    assert list(line.x)[-1] == T0 + timedelta(minutes=3)
    assert list(current.y) == [12] and current.mode == "markers" and "so far" in current.name
    assert current.marker.symbol == "circle-open"


def test_a_window_with_only_the_current_minute_draws_it_as_so_far() -> None:
    fig = main_figures.throughput(job_stats([(0, 5, True)]).throughput_per_minute)
    assert len(fig.data) == 1 and "so far" in fig.data[0].name and list(fig.data[0].y) == [5]
    assert fig.layout.annotations == ()


def test_latency_is_drawn_in_ms_per_minute_and_says_what_it_measures() -> None:
    fig = main_figures.latency(job_stats([], latency=[(0, 0.05), (1, 0.1)]).latency_per_minute)
    assert [t.name for t in fig.data] == ["p50", "p95", "p99"]
    assert list(fig.data[0].y) == [50.0, 100.0] and list(fig.data[2].y) == [150.0, 300.0]
    assert "received" in fig.layout.title.text and "metadata.elapsed" in fig.layout.title.text
    assert main_figures.latency([]).layout.annotations[0].text == "no finished jobs in the window"


def test_jobs_per_worker_are_the_worker_jobs_in_the_window() -> None:
    now = T0 + timedelta(minutes=60)
    workers = [WorkerStats(worker_id="w2", service="s", finished=120_000, failed=7, last_at=now - timedelta(seconds=5),
                           model="m v3"),
               WorkerStats(worker_id="w1", service="s", finished=40, failed=0, last_at=now - timedelta(minutes=9))]
    rows = main_figures.workers_rows(workers, now)
    assert [r["worker"] for r in rows] == ["w1", "w2"]
    assert rows[1] == {"worker": "w2", "service": "s", "model": "m v3", "finished": "120,000", "failed": "7",
                       "last job": "5 s ago", "health": "healthy"}
    assert rows[0]["health"] == "idle" and rows[0]["last job"] == "9 min ago" and rows[0]["model"] == "?"
    assert list(rows[0]) == list(main_figures.WORKER_COLUMNS)


def test_the_workers_table_is_laid_out_to_its_card_with_long_values_cut_and_whole_in_the_tooltip() -> None:
    now = T0
    name = "a-worker-with-a-very-long-name-on-a-kubernetes-node-0123456789"
    rows = main_figures.workers_rows([WorkerStats(worker_id=name, service="s", finished=1, failed=0,
                                                  last_at=now)], now)
    shown = table(rows, "workers-table", widths=main_figures.WORKER_COLUMNS)
    assert shown.style["tableLayout"] == "fixed" and shown.style["width"] == "100%"  # type: ignore[attr-defined]
    colgroup, _head, first = shown.children
    assert [c.style["width"] for c in colgroup.children] == list(main_figures.WORKER_COLUMNS.values())
    cell = first.children[0]
    assert cell.children == name and cell.title == name
    assert cell.style["textOverflow"] == "ellipsis" and cell.style["overflow"] == "hidden"
    assert sum(float(w.rstrip("%")) for w in main_figures.WORKER_COLUMNS.values()) == 100


def test_the_pipeline_map_counts_the_last_complete_minute() -> None:
    points = job_stats([(0, 300, False), (1, 310, False), (2, 4, True)]).throughput_per_minute
    assert main_figures.last_minute_count(points, T0 + timedelta(minutes=2, seconds=10)) == 310
    assert main_figures.last_minute_count(points, T0 + timedelta(minutes=10)) == 4  # only the partial is recent
    assert main_figures.last_minute_count([], T0) == 0


def test_the_status_line_says_the_window_latency_and_the_pace() -> None:
    line = main_figures.status_line(job_stats([]), 5, 0.042)
    assert line == ("905 jobs in the last 60 min; latency p50 40 ms, p99 200 ms; next refresh 5 s after this one, "
                    "which took 42 ms")


def test_a_fast_refresh_keeps_the_configured_interval_and_opens_the_gate_for_one_tick() -> None:
    pace = pacing.next_refresh(7, 0.05, 5)
    assert (pace.interval_ms, pace.max_intervals) == (5000, 8)
    assert pacing.next_refresh(None, 0.05, 5).max_intervals == 1  # the page's first call
    assert pace.watchdog_ms >= 3 * pace.interval_ms


def test_a_slow_refresh_lengthens_the_interval_to_twice_its_duration_within_bounds() -> None:
    pace = pacing.next_refresh(3, 18.0, 5)
    assert pace.interval_ms == 36_000 and pace.interval_ms > 18_000  # never shorter than the refresh took
    assert pace.watchdog_ms == 3 * 36_000
    assert pacing.next_refresh(3, 3600, 5).interval_ms == pacing.LONGEST_MS
    # Faster again: back to the configured interval at once.
    assert pacing.next_refresh(4, 0.1, 5).interval_ms == 5000
    assert pacing.next_refresh(4, -1, 5).interval_ms == 5000


def test_jobs_by_status_draws_the_statuses_that_have_jobs() -> None:
    fig = main_figures.jobs_by_status(job_stats([]))
    assert list(fig.data[0].x) == ["processing", "finished", "failed"] and list(fig.data[0].y) == [2, 900, 3]
    assert "last 60 min" in fig.layout.title.text
