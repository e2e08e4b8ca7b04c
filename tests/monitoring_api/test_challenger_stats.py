"""Champion against challenger: row selection, scores, the bootstrap interval and the verdict (pure: no service)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.challenger import ChallengerComparison, ChallengerVerdict
from conveyor.schemas.datasets import Task
from conveyor.schemas.services import ChallengerMode, ChallengerPolicy
from monitoring_api.challenger import block_length, compare, interval, rows_needed, select

CHAMPION = AlgorithmRef(name="m", version=1)
CHALLENGER = AlgorithmRef(name="m", version=2)
POLICY = ChallengerPolicy()  # 200 labelled rows each, 95 %
SHADOW, SPLIT = ChallengerMode.shadow, ChallengerMode.split
AT = datetime(2030, 1, 1, tzinfo=UTC)


def _ar1(rows: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    out = np.empty(rows)
    noise = rng.standard_normal(rows)
    out[0] = noise[0]
    for t in range(1, rows):
        out[t] = phi * out[t - 1] + np.sqrt(1 - phi**2) * noise[t]
    return out


def regression_rows(rows: int, mode: ChallengerMode, challenger_noise: float, seed: int = 0,
                    share: float = 0.5, labelled: float = 1.0) -> pd.DataFrame:
    """Rows whose champion errs by N(0, 1) and whose challenger errs by N(0, challenger_noise); in split a
    `share` of them predicted by the challenger, in shadow every row by both."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(50, 10, rows)
    champion = truth + rng.standard_normal(rows)
    challenger = truth + challenger_noise * rng.standard_normal(rows)
    label = np.where(rng.random(rows) < labelled, truth, np.nan)
    frame = pd.DataFrame({"record_id": [f"r{i}" for i in range(rows)], "label": label})
    if mode is SHADOW:
        return frame.assign(prediction=champion, model_name="m", model_version=1, model_role="champion",
                            shadow_prediction=challenger, shadow_model_name="m", shadow_model_version=2)
    to_challenger = rng.random(rows) < share
    return frame.assign(prediction=np.where(to_challenger, challenger, champion), model_name="m",
                        model_version=np.where(to_challenger, 2, 1),
                        model_role=np.where(to_challenger, "challenger", "champion"))


def judge(frame: pd.DataFrame, mode: ChallengerMode, task: Task = Task.regression,
          policy: ChallengerPolicy = POLICY, resamples: int = 2000) -> ChallengerComparison:
    return compare(task, mode, frame, CHAMPION, CHALLENGER, policy, resamples, service="s", dataset="d", at=AT)


@pytest.mark.parametrize("mode", [SHADOW, SPLIT])
def test_a_clearly_better_challenger_is_better_and_a_clearly_worse_one_worse(mode: ChallengerMode) -> None:
    better = judge(regression_rows(1000, mode, challenger_noise=0.5), mode)
    assert better.verdict is ChallengerVerdict.challenger_better and better.rows_needed == 0
    assert better.difference.paired is (mode is SHADOW) and better.difference.metric == "mae"
    assert better.difference.low is not None and better.difference.low > 0
    champion_mae, challenger_mae = better.champion.metrics["mae"], better.challenger.metrics["mae"]
    assert champion_mae is not None and challenger_mae is not None
    assert better.difference.value == pytest.approx(champion_mae - challenger_mae)
    assert challenger_mae == pytest.approx(0.5 * np.sqrt(2 / np.pi), rel=0.15)
    assert set(better.champion.metrics) == {"mae", "rmse"}
    assert better.reason.startswith("challenger better")
    worse = judge(regression_rows(1000, mode, challenger_noise=2.0), mode)
    assert worse.verdict is ChallengerVerdict.challenger_worse and worse.reason.startswith("challenger worse")
    assert worse.difference.high is not None and worse.difference.high < 0


@pytest.mark.parametrize("mode", [SHADOW, SPLIT])
def test_an_equal_challenger_is_not_significant_and_says_how_many_rows_it_would_take(mode: ChallengerMode) -> None:
    equal = judge(regression_rows(600, mode, challenger_noise=1.0, seed=3), mode)
    assert equal.verdict is ChallengerVerdict.not_significant
    low, high, value = equal.difference.low, equal.difference.high, equal.difference.value
    assert low is not None and high is not None and value is not None and low < 0 < high
    fewest = min(equal.champion.labelled_rows, equal.challenger.labelled_rows)
    expected = math.ceil(fewest * ((high - low) / 2 / abs(value)) ** 2) - fewest
    assert equal.rows_needed == max(expected, POLICY.min_labelled_rows - fewest, 0) and equal.rows_needed > 0
    assert "includes 0" in equal.reason and "more labelled rows" in equal.reason


def test_shadow_counts_every_row_for_both_and_pairs_them() -> None:
    frame = regression_rows(500, SHADOW, challenger_noise=1.0, labelled=0.6)
    result = judge(frame, SHADOW)
    assert result.champion.rows == result.challenger.rows == 500
    assert result.champion.labelled_rows == result.challenger.labelled_rows == frame["label"].notna().sum()


def test_pairing_narrows_the_interval_when_the_models_share_their_errors() -> None:
    """Two models that err alike on the same records: the paired interval sees only where they differ."""
    rng = np.random.default_rng(4)
    truth = rng.normal(50, 10, 800)
    shared = rng.standard_normal(800) * 3
    champion, challenger = truth + shared + 0.3 * rng.standard_normal(800), truth + shared
    champion_score, challenger_score = -np.abs(champion - truth), -np.abs(challenger - truth)
    paired = interval(champion_score, challenger_score, True, 0.95, 2000)
    apart = interval(champion_score, challenger_score, False, 0.95, 2000)
    assert paired.high - paired.low < (apart.high - apart.low) / 3


def test_identical_models_in_shadow_differ_by_nothing_and_no_rows_would_separate_them() -> None:
    frame = regression_rows(400, SHADOW, challenger_noise=1.0)
    frame["shadow_prediction"] = frame["prediction"]
    result = judge(frame, SHADOW)
    assert result.verdict is ChallengerVerdict.not_significant
    assert result.difference.value == 0 and result.rows_needed is None
    assert "score the same" in result.reason


def test_a_clear_difference_on_too_few_labelled_rows_waits_for_the_minimum() -> None:
    result = judge(regression_rows(150, SHADOW, challenger_noise=0.2), SHADOW)
    assert result.difference.low is not None and result.difference.low > 0, "the interval alone would decide"
    assert result.verdict is ChallengerVerdict.not_significant
    assert result.rows_needed == POLICY.min_labelled_rows - 150
    assert "needs 200 labelled rows" in result.reason


def test_no_labelled_rows_no_interval_and_a_sentence() -> None:
    result = judge(regression_rows(300, SPLIT, challenger_noise=0.5, labelled=0.0), SPLIT)
    assert result.challenger.rows > 0 and result.challenger.labelled_rows == 0
    assert result.difference.value is None and result.difference.low is None and result.rows_needed is None
    assert result.challenger.metrics == {"mae": None, "rmse": None}
    assert result.reason.startswith("no verdict yet") and "at least 200" in result.reason


def test_split_keeps_only_the_currently_assigned_models_in_their_roles() -> None:
    frame = pd.DataFrame({
        "prediction": [1.0] * 7, "label": [1.0] * 7,
        "model_name": ["m", "m", "m", "m", "m", "old", "m"],
        "model_version": [1, 1, 2, 2, 3, 1, 2],
        "model_role": ["champion", None, "challenger", "champion", "challenger", "champion", None],
    })
    chosen = select(frame, SPLIT, CHAMPION, CHALLENGER)
    # Rows 0 and 1 (role champion or none: rows from before roles); row 2 only for the challenger; v2 as
    # champion (before a promotion's swap), v3 and another model's rows count for neither.
    assert (chosen.champion.rows, chosen.challenger.rows) == (2, 1)


def test_shadow_keeps_rows_with_the_current_challengers_shadow_prediction() -> None:
    frame = pd.DataFrame({
        "prediction": [1.0] * 5, "label": [1.0, 2.0, None, 1.0, 1.0],
        "model_name": ["m"] * 5, "model_version": [1, 1, 1, 1, 2], "model_role": ["champion"] * 5,
        "shadow_prediction": [1.5, 1.5, 1.5, None, 1.5],
        "shadow_model_name": ["m", "m", "m", "m", "m"], "shadow_model_version": [2, 2, 2, 2, 1],
    })
    chosen = select(frame, SHADOW, CHAMPION, CHALLENGER)
    # Row 3: the challenger failed on it; row 4: models in swapped roles (the other way round).
    assert chosen.paired and chosen.champion.rows == chosen.challenger.rows == 3
    assert chosen.champion.labelled == 2 and list(chosen.challenger.predicted) == [1.5, 1.5]


def test_rows_without_role_columns_are_the_champions() -> None:
    frame = pd.DataFrame({"prediction": [1.0, 2.0], "label": [1.0, 2.0], "model_name": ["m", "m"],
                          "model_version": [1, 1]})
    assert select(frame, SPLIT, CHAMPION, CHALLENGER).champion.rows == 2
    assert select(frame, SHADOW, CHAMPION, CHALLENGER).champion.rows == 0
    assert select(pd.DataFrame(), SPLIT, CHAMPION, CHALLENGER).champion.rows == 0


def test_classification_decides_on_accuracy_and_reports_weighted_f1() -> None:
    rng = np.random.default_rng(7)
    truth = rng.choice(["a", "b", "c"], 1200)
    right_champion, right_challenger = rng.random(1200) < 0.7, rng.random(1200) < 0.85
    wrong = np.where(truth == "a", "b", "a")
    frame = pd.DataFrame({"label": truth, "prediction": np.where(right_champion, truth, wrong),
                          "shadow_prediction": np.where(right_challenger, truth, wrong), "model_name": "m",
                          "model_version": 1, "model_role": "champion", "shadow_model_name": "m",
                          "shadow_model_version": 2})
    result = judge(frame, SHADOW, Task.classification)
    assert result.verdict is ChallengerVerdict.challenger_better and result.difference.metric == "accuracy"
    accuracy = result.challenger.metrics["accuracy"]
    assert accuracy == pytest.approx(right_challenger.mean())
    assert set(result.challenger.metrics) == {"accuracy", "f1"} and result.challenger.metrics["f1"] is not None
    assert result.difference.value == pytest.approx(right_challenger.mean() - right_champion.mean())


def test_classes_read_from_a_csv_with_gaps_compare_as_numbers() -> None:
    """A label column with missing labels reads 1 as 1.0 while predictions stay integers."""
    frame = pd.DataFrame({"label": [1.0, 0.0, None, 1.0] * 60, "prediction": [1, 0, 1, 0] * 60,
                          "model_name": "m", "model_version": 1, "model_role": "champion",
                          "shadow_prediction": [1, 0, 1, 1] * 60, "shadow_model_name": "m",
                          "shadow_model_version": 2})
    result = judge(frame, SHADOW, Task.classification, ChallengerPolicy(min_labelled_rows=20))
    assert result.champion.metrics["accuracy"] == pytest.approx(2 / 3)
    assert result.challenger.metrics["accuracy"] == 1.0


def test_the_same_rows_give_the_same_interval() -> None:
    frame = regression_rows(500, SPLIT, challenger_noise=0.9)
    assert judge(frame, SPLIT).difference == judge(frame, SPLIT).difference


def test_blocks_follow_the_rows_streaks_and_keep_false_verdicts_near_the_level() -> None:
    """Equal models whose errors run in streaks (AR(1), phi 0.61 as the demo's): resampling single rows
    would call them different far more often than 5 % (about a fifth of the time); blocks keep it near it."""
    rng = np.random.default_rng(11)
    assert block_length(rng.standard_normal(2000)) <= 15
    assert block_length(_ar1(2000, 0.9, rng)) > 25
    trials, significant = 200, 0
    for trial in range(trials):
        champion, challenger = -np.abs(_ar1(500, 0.61, rng)), -np.abs(_ar1(500, 0.61, rng))
        found = interval(champion, challenger, True, 0.95, 1000, seed=trial)
        significant += found.low > 0 or found.high < 0
    assert significant / trials < 0.15


def test_rows_needed_scales_with_the_square_of_the_half_width() -> None:
    assert rows_needed(400, 0.1, -0.1, 0.3, 200) == 400 * 4 - 400
    assert rows_needed(400, 0.2, 0.1, 0.3, 200) == 0
    assert rows_needed(100, 0.2, 0.1, 0.3, 200) == 100, "never fewer than the minimum"
    assert rows_needed(400, 0.0, -0.1, 0.1, 200) is None
    assert rows_needed(400, None, None, None, 200) is None


def test_two_thousand_resamples_over_thousands_of_rows_take_well_under_a_second() -> None:
    for mode in (SHADOW, SPLIT):
        frame = regression_rows(5000, mode, challenger_noise=0.95)
        started = time.perf_counter()
        result = judge(frame, mode, resamples=2000)
        assert time.perf_counter() - started < 0.3, f"{mode.value}: {time.perf_counter() - started:.3f} s"
        assert "2000 resamples" in result.difference.method
