"""The fault benchmark's counting (pure logic; the benchmark itself runs with `make bench-faults`, not here)."""

from typing import Any

from conveyor_tools.benchmarks.faults import EveryNthMalformed, check, messages_for
from conveyor_tools.demo_dataset import DEMO_FEATURES, demo_stream

VALID = [f"r{i}" for i in range(10)]
BAD = ["m0", "m1"]


def clean(**changes: object) -> dict[str, Any]:
    """A run where everything arrived once; `changes` replace its parts."""
    parts: dict[str, object] = {
        "sent_valid": VALID, "sent_malformed": BAD, "stored_rows": list(VALID),
        "jobs": [(r, "finished") for r in VALID] + [(m, "failed") for m in BAD], "dead_letters": list(BAD),
        "queue_depth": 0,
    }
    figures: dict[str, Any] = check(**{**parts, **changes})  # type: ignore[arg-type]
    return figures


def test_a_run_where_everything_arrived_once_passes() -> None:
    counts = clean()
    assert counts["passed"] and counts["failures"] == []
    assert (counts["lost"], counts["duplicated"], counts["unexpected"]) == (0, 0, 0)
    assert (counts["finished_jobs"], counts["failed_jobs"], counts["dead_letters"]) == (10, 2, 2)


def test_lost_duplicated_and_unexpected_records_are_counted() -> None:
    rows = VALID[1:] + ["r5", "ghost"]
    jobs = [(r, "finished") for r in VALID[1:]] + [("r5", "finished")] + [(m, "failed") for m in BAD]
    counts = clean(stored_rows=rows, jobs=jobs)
    assert (counts["lost"], counts["duplicated"], counts["unexpected"]) == (1, 2, 1)  # a row and a job of r5
    assert not counts["passed"]
    assert {"lost", "duplicated", "unexpected", "valid_not_finished"} <= set(counts["failures"])


def test_jobs_dead_letters_and_the_queue_are_checked() -> None:
    jobs = [(r, "finished") for r in VALID[:-1]] + [("r9", "processing"), ("m0", "failed"), ("m1", "finished")]
    counts = clean(jobs=jobs, dead_letters=["m0"], queue_depth=3)
    assert counts["open_jobs"] == 1 and counts["malformed_not_failed"] == 1
    assert counts["malformed_not_dead_lettered"] == 1 and counts["queue_depth"] == 3
    assert counts["unexpected_finished_jobs"] == 1  # m1 finished: a malformed record must fail
    assert any(f.startswith("failed_jobs 1 != malformed records 2") for f in counts["failures"])


def test_a_dead_letter_twice_is_fine_but_one_of_a_valid_record_is_not() -> None:
    assert clean(dead_letters=BAD + ["m0"])["passed"]  # a redelivered malformed message is dead-lettered again
    counts = clean(dead_letters=BAD + ["r3"])
    assert counts["dead_letters_unexpected"] == 1 and not counts["passed"]


def test_an_unconfirmed_record_may_arrive_or_not_like_in_the_jepsen_checker() -> None:
    arrived = clean(stored_rows=VALID + ["u0"], jobs=[(r, "finished") for r in VALID + ["u0"]]
                    + [(m, "failed") for m in BAD], unconfirmed_valid=["u0", "u1"])
    assert arrived["passed"] and arrived["recovered"] == 1 and arrived["unconfirmed"] == 2
    assert arrived["unexpected"] == 0 and arrived["lost"] == 0
    malformed = clean(jobs=[(r, "finished") for r in VALID] + [(m, "failed") for m in BAD + ["u2"]],
                      dead_letters=BAD + ["u2"], unconfirmed_malformed=["u2"])
    assert malformed["passed"] and malformed["recovered"] == 1


def test_every_nth_message_is_malformed_and_the_valid_ones_number_as_asked() -> None:
    for valid, every in ((20_000, 20), (2_000, 20), (7, 2), (1, 20)):
        total = messages_for(valid, every)
        assert total - total // every == valid and (total - 1) - (total - 1) // every < valid
    factory = EveryNthMalformed(frame=demo_stream(50), features=DEMO_FEATURES, run_id="t", every=20)
    kinds = [factory.malformed_kind(i) for i in range(60)]
    assert [i for i, k in enumerate(kinds) if k] == [19, 39, 59]
    assert len({kinds[19], kinds[39], kinds[59]}) == 3  # the kinds in turn
    assert factory.build(19, 0.0)[2] == kinds[19]
