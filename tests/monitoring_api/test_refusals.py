"""What the fuzzer found: values the stores or the internal URLs cannot take are refused at the door with a 422
that names the parameter, never a 500 from deep inside a query, nor an answer about another dataset."""

from __future__ import annotations

import httpx
import pytest

from tests.monitoring_api.conftest import Monitored

IMPOSSIBLE_OFFSET = "2024-01-01T00:00:00+22:00"  # PostgreSQL takes offsets up to 15:59
TOO_BIG = str(2**63)  # past bigint


def _get(monitored: Monitored, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{monitored.stack.monitoring_url}/monitoring_api/{path}", params=params,
                     headers=monitored.read_headers, timeout=60)


def _refused(answer: httpx.Response, parameter: str, words: str = "") -> None:
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert parameter in detail and words in detail, detail


@pytest.mark.parametrize(("path", "parameter"), [
    ("checks", "start"), ("checks", "end"), ("alerts", "start"), ("challenger/history", "end"),
    ("data_drift", "current_start"), ("data_drift", "reference_end"), ("challenger", "current_end"),
])
def test_an_offset_postgresql_refuses_is_422_naming_the_parameter(monitored: Monitored, path: str,
                                                                  parameter: str) -> None:
    params = {"dataset": monitored.dataset, "service": "fz_svc", "reference": "window", parameter: IMPOSSIBLE_OFFSET}
    _refused(_get(monitored, path, **params), f"query.{parameter}", "+22:00 is outside -15:59..+15:59")


def test_an_empty_dataset_is_422_saying_one_is_needed(monitored: Monitored) -> None:
    _refused(_get(monitored, "data_quality", dataset=""), "query.dataset", "a dataset is needed")


@pytest.mark.parametrize(("path", "params", "parameter"), [
    ("episodes", {"offset": "10000000000"}, "query.offset"),
    (f"episodes/{TOO_BIG}", {}, "path.episode_id"),
    ("data_quality", {"current_rows": TOO_BIG}, "query.current_rows"),
    ("calibration", {"window_rows": TOO_BIG}, "query.window_rows"),
    ("challenger", {"service": "fz_svc", "current_hours": "1e300"}, "query.current_hours"),
])
def test_an_integer_out_of_range_is_422(monitored: Monitored, path: str, params: dict[str, str],
                                        parameter: str) -> None:
    params.setdefault("dataset", monitored.dataset)
    _refused(_get(monitored, path, **params), parameter, "less than or equal to")


def test_a_name_no_dataset_or_service_can_have_is_422_not_an_answer_about_another(monitored: Monitored) -> None:
    # "NAME?x" went into queue_manager's URL unescaped and answered for dataset NAME.
    _refused(_get(monitored, "data_quality", dataset=f"{monitored.dataset}?x"), "query.dataset")
    _refused(_get(monitored, "calibration", service="svc\x01"), "query.service")
    _refused(_get(monitored, "challenger", service="a?b"), "query.service")
    checked = httpx.post(f"{monitored.stack.monitoring_url}/monitoring_api/checks/run", params={"service": ""},
                         headers=monitored.headers, timeout=60)
    _refused(checked, "query.service")
