"""The micro-batch accounting of incremental runs: per-batch guards, the batches summed, versions from progress."""

from __future__ import annotations

import json

from imbalance_spark.flows.batches import batch_guard_problems, input_versions, sum_plans
from imbalance_spark.plan import ClassPlan, SamplingPlan


def plan(majority: int, kept: int, minority: int = 0, factor: float = 20.0) -> SamplingPlan:
    classes = [ClassPlan("0", 0, "majority", majority, factor, 1 / factor, float(majority), kept, float(kept))]
    if minority:
        classes.append(ClassPlan("1", 1, "minority", minority, 1.0, 1.0, float(minority), minority, float(minority)))
    return SamplingPlan(classes=tuple(classes), minority_share=minority / (majority + minority), degree="extreme")


def test_a_small_batch_that_keeps_no_majority_row_passes_a_big_one_does_not():
    assert batch_guard_problems(plan(10, 0), 6) == []  # 0.95^10: kept none 60% of the time
    problems = batch_guard_problems(plan(10_000, 0), 6)
    assert len(problems) == 1 and problems[0].startswith("class 0 vanished: 0 of 10,000 rows kept")
    assert batch_guard_problems(plan(10_000, 900), 6)[0].startswith("class 0: 900 rows kept, outside 6 sigma")
    assert batch_guard_problems(plan(10_000, 500, minority=5), 6) == []


def test_batches_sum_per_class_with_the_config_factor():
    total = sum_plans([plan(1_000, 52, minority=10), plan(30, 1), plan(2_000, 99, minority=30)])
    by_key = {c.key: c for c in total.classes}
    assert [c.key for c in total.classes] == ["0", "1"]
    assert (by_key["0"].count, by_key["0"].predicted_kept, by_key["0"].factor) == (3_030, 152, 20.0)
    assert (by_key["1"].count, by_key["1"].predicted_kept) == (40, 40)
    assert total.rows == 3_070 and total.predicted_rows == 192
    assert total.minority_share == 40 / 3_070 and total.degree == "moderate"


def offset(version: int, index: int, snapshot: bool) -> str:
    return json.dumps({"sourceVersion": 1, "reservoirId": "r", "reservoirVersion": version, "index": index,
                       "isStartingVersion": snapshot})


def test_input_versions_from_the_stream_progress():
    progress = [
        {"batchId": 0, "sources": [{"startOffset": "null", "endOffset": offset(1, 0, True)}]},
        {"batchId": 1, "sources": [{"startOffset": offset(1, 0, True), "endOffset": offset(2, -1, False)}]},
        {"batchId": 2, "sources": [{"startOffset": offset(2, -1, False), "endOffset": offset(4, -1, False)}]},
        {"batchId": 3, "sources": [{"startOffset": offset(4, -1, False), "endOffset": offset(4, -1, False)}]},
    ]
    assert input_versions(progress, {0, 1}, None) == (1, 1)  # the snapshot of version 1
    assert input_versions(progress, {2}, None) == (2, 3)
    assert input_versions(progress, {0}, 7) == (7, 1)
    assert input_versions(progress, set(), None) == (None, None)
