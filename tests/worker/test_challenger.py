"""Champion and challenger through the real pipeline: split, shadow, hot swap, a challenger that breaks."""

from __future__ import annotations

import asyncio
import hashlib
import signal

import pytest

from tests.worker.conftest import Service, named, publish_many, unfitted_model_bytes
from worker.routing import serves_challenger, share_of

BIG_BATCHES = {"BATCH_SIZE": "1000", "PREFETCH": "1000", "BATCH_WAIT_MS": "50"}


def champion_value(row: dict) -> float:
    return float(row["a"] + 2 * row["b"] - row["c"])  # what model_bytes(0) predicts


def by_id(items: list[dict]) -> dict[str, dict]:
    return {i["record_id"]: i for i in items}


@pytest.mark.parametrize("share", [0.0, 0.05, 0.3, 0.5, 0.9, 1.0])
def test_the_split_rule_gives_the_share_over_5000_records(share: float) -> None:
    # Pure logic: the pipeline test below shows every stored row follows this rule exactly.
    ids = [f"rec-{i}" for i in range(5000)]
    assert abs(sum(serves_challenger(i, share) for i in ids) / 5000 - share) <= 0.03
    assert share_of("rec-1") == share_of("rec-1") and 0 <= share_of("") < 1
    # Stable across processes and releases: the documented formula, pinned to its value.
    assert share_of("rec-1") == int.from_bytes(hashlib.blake2b(b"rec-1").digest()[:8], "big") / 2**64


def test_split_gives_the_challenger_its_share_by_record_id(service: Service) -> None:
    challenger = service.upload(offset=100.0)
    service.patch(challenger=service.ref(challenger), challenger_mode="split", challenger_share=0.3)
    # Two processes, each handed half the records: the same rule in each, whichever takes a record.
    halves = {"BATCH_SIZE": "500", "PREFETCH": "500", "BATCH_WAIT_MS": "50"}
    workers = [service.start_worker("w1", **halves), service.start_worker("w2", **halves)]
    service.wait_for(lambda: all("consuming" in service.log(w) for w in workers), what="both workers consuming")
    asyncio.run(publish_many(service.queue, [named(i, "s") for i in range(1000)]))
    service.wait_for(lambda: service.job_total("finished") == 1000, what="1000 finished jobs")
    rows = by_id(service.rows())
    assert len(rows) == 1000
    theirs = [r for r in rows.values() if r["model_role"] == "challenger"]
    assert abs(len(theirs) / 1000 - 0.3) <= 0.03, len(theirs)
    for record_id, row in rows.items():
        expected = "challenger" if serves_challenger(record_id, 0.3) else "champion"
        assert row["model_role"] == expected, record_id
        assert row["model_version"] == (challenger if expected == "challenger" else 1)
        offset = 100.0 if expected == "challenger" else 0.0
        assert row["prediction"] == pytest.approx(champion_value(row) + offset, abs=1e-6)
        assert row["shadow_prediction"] is None
    jobs = by_id(service.jobs("finished"))
    assert all(jobs[i]["algorithm_role"] == r["model_role"] and jobs[i]["algorithm_version"] == r["model_version"]
               for i, r in rows.items())
    assert {j["metadata"]["worker_id"] for j in jobs.values()} == {"w1", "w2"}


def test_a_redelivered_record_keeps_its_model(service: Service) -> None:
    challenger = service.upload(offset=100.0)
    service.patch(challenger=service.ref(challenger), challenger_share=0.5)  # no mode given: split
    # The victim cannot reach ml_data_api: it has predicted (each record with its model) and retries storing the
    # rows; its jobs are written only once they are stored, so none is there yet.
    victim = service.start_worker("victim", BATCH_SIZE="300", BATCH_WAIT_MS="3000",
                                  ML_DATA_API_URL="http://127.0.0.1:9")
    asyncio.run(publish_many(service.queue, [named(i, "d") for i in range(300)]))
    service.wait_for(lambda: "store predictions" in service.log(victim), what="the victim stuck storing")
    assert service.job_total() == 0 and service.counts()["production"] == 0
    victim.proc.send_signal(signal.SIGKILL)  # every record comes again, to another process
    victim.proc.wait(10)
    service.start_worker("survivor")
    service.wait_for(lambda: service.job_total("finished") == 300, what="300 finished jobs")
    rows = by_id(service.rows())
    assert len(rows) == 300 and len(service.jobs()) == 300
    jobs = by_id(service.jobs())
    for record_id, row in rows.items():
        role = "challenger" if serves_challenger(record_id, 0.5) else "champion"
        assert row["model_role"] == jobs[record_id]["algorithm_role"] == role, record_id
        assert row["job_id"] == jobs[record_id]["id"]
    assert {j["metadata"]["worker_id"] for j in jobs.values()} == {"survivor"}  # written once, when stored


def test_shadow_stores_both_and_serves_the_champion(service: Service) -> None:
    challenger = service.upload(offset=100.0)
    service.patch(challenger=service.ref(challenger), challenger_mode="shadow", challenger_share=0.1)
    worker = service.start_worker("w1", **BIG_BATCHES)
    asyncio.run(publish_many(service.queue, [named(i, "sh") for i in range(500)]))
    service.wait_for(lambda: service.job_total("finished") == 500, what="500 finished jobs")
    rows = by_id(service.rows())
    assert len(rows) == 500
    for row in rows.values():
        assert (row["model_role"], row["model_version"]) == ("champion", 1)
        assert row["prediction"] == pytest.approx(champion_value(row), abs=1e-6)
        assert row["shadow_prediction"] == pytest.approx(champion_value(row) + 100, abs=1e-6)
        assert (row["shadow_model_name"], row["shadow_model_version"]) == (f"{service.name}_model", challenger)
    jobs = service.jobs("finished")
    assert {j["algorithm_role"] for j in jobs} == {"champion"}
    assert all(j["result"] == pytest.approx(rows[j["record_id"]]["prediction"]) for j in jobs)
    assert service.metric(worker, 'worker_predictions_total{role="shadow"}') == 500
    # One predict per model per batch.
    batches = service.metric(worker, "worker_batch_size_count")
    assert service.metric(worker, "worker_predict_seconds_count") == batches
    assert service.metric(worker, "worker_challenger_predict_seconds_count") == batches


def test_both_models_swap_by_patch_without_restart(service: Service) -> None:
    split_v, shadow_v = service.upload(offset=100.0), service.upload(offset=200.0)
    worker = service.start_worker("w1", BATCH_SIZE="100")
    service.wait_for(lambda: "consuming" in service.log(worker), what="consuming")

    done = 0

    def phase(prefix: str, swapped_to: str, **change: object) -> None:
        """Records in flight while the assignment changes, then records after the swap, all stored."""
        nonlocal done
        asyncio.run(publish_many(service.queue, [named(i, f"{prefix}-during") for i in range(150)]))
        before = service.log(worker).count(swapped_to)
        service.patch(**change)
        service.wait_for(lambda: service.log(worker).count(swapped_to) > before, what=swapped_to)
        asyncio.run(publish_many(service.queue, [named(i, f"{prefix}-after") for i in range(150)]))
        done += 300
        service.wait_for(lambda: service.job_total("finished") == done, what=f"{done} finished jobs")

    phase("split", f"challenger {service.name}_model v{split_v}, split, share 0.5",
          challenger=service.ref(split_v), challenger_mode="split", challenger_share=0.5)
    phase("shadow", f"challenger {service.name}_model v{shadow_v}, shadow",
          challenger=service.ref(shadow_v), challenger_mode="shadow")
    phase("none", "no challenger", challenger=None)
    rows = by_id(service.rows())
    assert len(rows) == 900 and len(service.jobs()) == 900 and not service.jobs("failed")
    for record_id, row in rows.items():
        if record_id.startswith("split-after"):
            role = "challenger" if serves_challenger(record_id, 0.5) else "champion"
            assert (row["model_role"], row["model_version"]) == (role, split_v if role == "challenger" else 1)
        elif record_id.startswith("shadow-after"):
            assert row["model_role"] == "champion" and row["shadow_model_version"] == shadow_v
            assert row["shadow_prediction"] == pytest.approx(champion_value(row) + 200, abs=1e-6)
        elif record_id.startswith("none-after"):
            assert row["model_role"] == "champion" and row["shadow_prediction"] is None
    assert "predicting with" in service.log(worker) and service.log(worker).count("predicting with") == 1


def test_a_broken_challenger_never_stops_the_champion(service: Service) -> None:
    # Neither of these two passes queue_manager's upload check: they are written into its store directly.
    unloadable = service.store_directly(b"this is not a model file")
    service.patch(challenger=service.ref(unloadable), challenger_mode="split", challenger_share=0.5)
    worker = service.start_worker("w1", BATCH_SIZE="200")
    asyncio.run(publish_many(service.queue, [named(i, "l") for i in range(200)]))
    service.wait_for(lambda: service.job_total("finished") == 200, what="200 finished jobs")
    assert {(r["model_role"], r["model_version"]) for r in service.rows()} == {("champion", 1)}
    service.wait_for(lambda: (service.get()["challenger_health"] or {}).get("state") == "failing",
                     timeout=10, what="challenger_health failing")
    health = service.get()["challenger_health"]
    assert health["error"].startswith("load: ") and health["worker"] == "w1"
    assert health["challenger"] == service.ref(unloadable)
    assert service.metric(worker, 'worker_challenger_failures_total{stage="load"}') >= 1
    assert "failed to load" in service.log(worker)

    raising = service.store_directly(unfitted_model_bytes())
    service.patch(challenger=service.ref(raising), challenger_mode="shadow")  # health cleared: a new challenger
    service.wait_for(lambda: f"{service.name}_model v{raising}, shadow" in service.log(worker),
                     what="the swap to the raising challenger")
    asyncio.run(publish_many(service.queue, [named(i, "p") for i in range(200)]))
    service.wait_for(lambda: service.job_total("finished") == 400, what="400 finished jobs")
    predicted = [r for r in service.rows() if r["record_id"].startswith("p-")]
    assert len(predicted) == 200
    assert all(r["model_role"] == "champion" and r["shadow_prediction"] is None for r in predicted)
    assert all(r["prediction"] == pytest.approx(champion_value(r), abs=1e-6) for r in predicted)
    service.wait_for(lambda: ((service.get()["challenger_health"] or {}).get("error") or "").startswith("predict"),
                     timeout=10, what="challenger_health failing at predict")
    health = service.get()["challenger_health"]
    assert health["state"] == "failing" and "NotFittedError" in health["error"]
    assert service.metric(worker, 'worker_challenger_failures_total{stage="predict"}') >= 1
    assert not service.jobs("failed")
