"""Which label belongs to which record, and which labels never arrive."""

import pandas as pd

from ground_truth_collector.labels import LabelSource, arrives


def test_labels_by_row_index_in_data_source_ids() -> None:
    source = LabelSource(pd.DataFrame({"quality": [400, 410, 420]}), "quality")
    assert source.label("run1-0-0") == 400 and source.label("run1-2-5") == 420
    assert source.label("run1-3-0") is None and source.label("no-index") is None


def test_labels_by_record_id_column_and_loops() -> None:
    source = LabelSource(pd.DataFrame({"rid": ["pq-1", "pq-2"], "quality": [1, 2]}), "quality", record_id_column="rid")
    assert source.label("pq-2") == 2 and source.label("pq-2-3") == 2 and source.label("pq-9") is None


def test_a_share_never_arrives_and_always_the_same_ones() -> None:
    ids = [f"r-{i}-0" for i in range(5000)]
    first = [arrives(r, 0.1, seed=1) for r in ids]
    assert first == [arrives(r, 0.1, seed=1) for r in ids]
    assert 0.08 < first.count(False) / len(ids) < 0.12
    assert all(arrives(r, 0.0, seed=1) for r in ids[:100])
