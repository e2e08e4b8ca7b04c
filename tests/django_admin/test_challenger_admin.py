"""Champion and challenger in the admin: the service page, its form, the promotion with its confirmation, and
the dashboard's champion-vs-challenger chart (the chart's tests are pure: hand-made comparisons, no services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.challenger import ChallengerPoint, ChallengerVerdict, Difference, ModelScore
from conveyor.schemas.services import ChallengerMode, ModelRole
from django_admin.dashboards import challenger_figures

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CHAMPION, CHALLENGER = AlgorithmRef(name="m", version=1), AlgorithmRef(name="m", version=2)


def point(minute: float, champion_mae: float | None, challenger_mae: float | None,
          verdict: ChallengerVerdict = ChallengerVerdict.not_significant, labelled: tuple[int, int] = (100, 40),
          promoted: bool = False, metric: str = "MAE") -> ChallengerPoint:
    def score(role: ModelRole, model: AlgorithmRef, value: float | None, rows: int) -> ModelScore:
        return ModelScore(role=role, model=model, rows=rows * 2, labelled_rows=rows, metrics={metric: value})

    diff = None if champion_mae is None or challenger_mae is None else champion_mae - challenger_mae
    return ChallengerPoint(
        id=int(minute), service="s", dataset="d", mode=ChallengerMode.split,
        champion=score(ModelRole.champion, CHAMPION, champion_mae, labelled[0]),
        challenger=score(ModelRole.challenger, CHALLENGER, challenger_mae, labelled[1]),
        difference=Difference(metric=metric, value=diff, low=None if diff is None else diff - 0.5,
                              high=None if diff is None else diff + 0.5, confidence=0.95, paired=False,
                              method="bootstrap"),
        verdict=verdict, rows_needed=None if verdict is not ChallengerVerdict.not_significant else 120,
        reason=f"reason {minute}", at=T0 + timedelta(minutes=minute), promoted=promoted)


def traces(fig) -> dict[str, object]:
    return {t.name: t for t in fig.data}


def test_the_chart_draws_each_model_metric_and_the_rows_each_has_seen() -> None:
    points = [point(0, 10.0, 11.0), point(1, 10.2, 9.0, ChallengerVerdict.challenger_better, (300, 250)),
              point(2, 10.1, 12.5, ChallengerVerdict.challenger_worse, (400, 320))]
    fig = challenger_figures.challenger_figure(points)
    by_name = traces(fig)
    assert list(by_name["champion MAE"].y) == [10.0, 10.2, 10.1]
    assert list(by_name["challenger MAE"].y) == [11.0, 9.0, 12.5]
    assert list(by_name["champion labelled rows"].y) == [100, 300, 400]
    assert list(by_name["challenger labelled rows"].y) == [40, 250, 320]
    assert list(by_name["challenger rows predicted"].y) == [80, 500, 640]
    assert by_name["champion labelled rows"].yaxis == "y2", "rows on their own panel, under the metric"
    assert fig.layout.yaxis.title.text == "MAE (lower is better)"
    assert "m v2" in by_name["challenger MAE"].hovertext[1], "each point names the model it scored"


def test_each_verdict_is_a_coloured_marker_on_the_challenger_point() -> None:
    points = [point(0, 10.0, 11.0), point(1, 10.0, 9.0, ChallengerVerdict.challenger_better),
              point(2, 10.0, 9.1, ChallengerVerdict.challenger_better, promoted=True)]
    by_name = traces(challenger_figures.challenger_figure(points))
    better = by_name["verdict: challenger better"]
    assert list(better.y) == [9.0, 9.1] and better.marker.color == "#2e7d32"
    assert list(by_name["verdict: not significant"].y) == [11.0]
    assert "verdict: challenger worse" not in by_name, "only the verdicts that occurred are in the legend"
    assert list(by_name["promoted by monitoring"].x) == [T0 + timedelta(minutes=2)]


def test_accuracy_is_better_higher_and_a_gap_breaks_the_lines() -> None:
    points = [point(m, 0.8, 0.82, metric="accuracy") for m in (0, 1, 2, 30)]
    fig = challenger_figures.challenger_figure(points)
    assert fig.layout.yaxis.title.text == "accuracy (higher is better)"
    champion = traces(fig)["champion accuracy"]
    assert len(champion.y) == 5 and champion.y[3] is None, "no line across the half hour nobody compared"


def test_no_comparisons_yet_says_so_and_the_panel_waits_for_a_challenger() -> None:
    fig = challenger_figures.challenger_figure([])
    assert "no champion-vs-challenger comparisons yet" in fig.layout.annotations[0].text
    assert not challenger_figures.panel_shown(None, [])
    assert challenger_figures.panel_shown(CHALLENGER, [])
    assert challenger_figures.panel_shown(None, [point(0, 1.0, 1.0)]), "after an archiving promotion"


def test_the_verdict_line_says_who_which_way_how_sure_and_on_how_many_rows() -> None:
    line = challenger_figures.verdict_line(point(0, 10.0, 9.0, labelled=(150, 60)))
    assert line.startswith("not significant (split, 2026-12-01 12:00:00 UTC): challenger m v2 vs champion m v1")
    assert "MAE difference 1 [0.5, 1.5] at 95%" in line and "150 / 60 labelled rows" in line
    assert "about 120 more labelled rows needed" in line and line.endswith("reason 0")


@pytest.mark.parametrize("metrics", [{"mae": 3.0}, {"MAE": 3.0}])
def test_a_metric_is_found_whatever_its_case(metrics: dict[str, float]) -> None:
    score = ModelScore(role=ModelRole.champion, model=CHAMPION, rows=1, labelled_rows=1, metrics=metrics)
    assert challenger_figures.metric_of(score, "MAE") == 3.0
