"""What the fuzzer found: values the stores, numpy or the internal URLs cannot take are refused at the door with a
422 that names the field, never a 500 and never a run queued to fail later."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conveyor_tools.stack import Stack

IMPOSSIBLE_OFFSET = "2024-01-01T00:00:00+22:00"  # PostgreSQL takes offsets up to 15:59


def _headers(stack: Stack, write: bool = False) -> dict[str, str]:
    token = stack.config.api_token if write else stack.config.api_read_token
    return {"Authorization": f"Bearer {token}"}


def _refused(answer: httpx.Response, field: str, words: str = "") -> None:
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert field in detail and words in detail, detail


def _start_run(stack: Stack, **body: Any) -> httpx.Response:
    payload = {"dataset": "rt_nowhere", "algorithm": "rt_nothing", **body}
    return httpx.post(f"{stack.retraining_url}/retraining_api/runs", json=payload, headers=_headers(stack, True),
                      timeout=30)


def test_an_offset_postgresql_refuses_is_422_naming_the_field(stack: Stack) -> None:
    runs = httpx.get(f"{stack.retraining_url}/retraining_api/runs", params={"since": IMPOSSIBLE_OFFSET},
                     headers=_headers(stack), timeout=30)
    _refused(runs, "query.since", "+22:00 is outside -15:59..+15:59")
    _refused(_start_run(stack, training={"start": IMPOSSIBLE_OFFSET}), "training.start", "+22:00")
    _refused(_start_run(stack, holdout={"source": "production", "start": IMPOSSIBLE_OFFSET}), "holdout.start",
             "+22:00")


@pytest.mark.parametrize(("method", "path", "params", "field"), [
    ("GET", "runs", {"offset": "10000000000"}, "query.offset"),
    ("GET", f"runs/{2**63}", {}, "path.run_id"),
    ("POST", f"runs/{2**63}/cancel", {}, "path.run_id"),
    ("POST", f"models/some_model/{2**63}/promote", {}, "path.version"),
    ("GET", "get_explainer_dashboard", {"model_name": "m", "evaluate_on": "testing", "version": str(2**31)},
     "query.version"),
])
def test_an_integer_out_of_range_is_422(stack: Stack, method: str, path: str, params: dict[str, str],
                                        field: str) -> None:
    answer = httpx.request(method, f"{stack.retraining_url}/retraining_api/{path}", params=params,
                           headers=_headers(stack, write=method == "POST"), timeout=30)
    _refused(answer, field, "less than or equal to")


def test_a_seed_numpy_cannot_take_is_refused_before_a_run_is_queued(stack: Stack) -> None:
    # A negative seed used to be queued and fail in PyCaret's setup, minutes later.
    _refused(_start_run(stack, seed=-1), "seed", "greater than or equal to 0")
    _refused(_start_run(stack, seed=2**32), "seed", "less than or equal to")


@pytest.mark.parametrize(("body", "field"), [
    ({"dataset": "rt_x?y"}, "dataset"), ({"dataset": "rt_\x01"}, "dataset"), ({"dataset": ""}, "dataset"),
    ({"service": "svc?x"}, "service"),
])
def test_a_name_nothing_can_have_is_422(stack: Stack, body: dict[str, str], field: str) -> None:
    _refused(_start_run(stack, **body), field)


@pytest.mark.parametrize("path", ["evaluate", "get_explainer_dashboard"])
def test_an_empty_model_name_is_422_not_some_other_model(stack: Stack, path: str) -> None:
    # queue_manager reads name= as no filter: the first model it listed used to be scored or explained.
    answer = httpx.get(f"{stack.retraining_url}/retraining_api/{path}",
                       params={"model_name": "", "evaluate_on": "testing"}, headers=_headers(stack), timeout=30)
    _refused(answer, "model_name")
