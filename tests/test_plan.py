"""Plan arithmetic and degree boundaries: plain Python, no Spark."""

from __future__ import annotations

import math

import pytest

from imbalance_spark.config import parse_config
from imbalance_spark.plan import (
    degree_of_imbalance,
    factor_for_minority_share,
    minority_class_keys,
    plan_sampling,
)
from imbalance_spark.profile import ClassProfile, ClassStats


def cfg(**over):
    data = {
        "dataset": "d",
        "input": {"path": "/in"},
        "label_column": "y",
        "downsampling": {"factor": 20},
        "output": {"path": "/out"},
    }
    data.update(over)
    return parse_config(data)


def stats(key, value, count, weight_sum=None, kept=None, kept_weight=None):
    w = float(count) if weight_sum is None else weight_sum
    return ClassStats(
        key=key,
        value=value,
        count=count,
        weight_sum=w,
        kept_if_downsampled=count if kept is None else kept,
        kept_weight_if_downsampled=w if kept_weight is None else kept_weight,
    )


@pytest.mark.parametrize(
    "minority, total, degree",
    [
        (99, 10_000, "extreme"),  # 0.99%
        (100, 10_000, "moderate"),  # 1%
        (1_999, 10_000, "moderate"),  # 19.99%
        (2_000, 10_000, "mild"),  # 20%
        (4_000, 10_000, "mild"),  # 40%
        (4_001, 10_000, "none"),  # 40.01%
        (0, 10, "extreme"),
        (5, 10, "none"),
    ],
)
def test_degree_boundaries(minority, total, degree):
    assert degree_of_imbalance(minority, total) == degree


def test_degree_needs_rows():
    with pytest.raises(ValueError):
        degree_of_imbalance(0, 0)


def test_binary_plan_downsamples_majority_only():
    profile = ClassProfile(
        classes=(stats("0", 0, 19_900, kept=1_001), stats("1", 1, 100)), null_labels=0
    )
    plan = plan_sampling(profile, cfg(minority_classes=[1]))
    by = {c.key: c for c in plan.classes}
    assert by["0"].role == "majority" and by["0"].factor == 20.0
    assert by["0"].fraction == pytest.approx(0.05)
    assert by["0"].expected_kept == pytest.approx(995.0)
    assert by["0"].predicted_kept == 1_001
    assert by["1"].role == "minority" and by["1"].factor == 1.0 and by["1"].fraction == 1.0
    assert by["1"].predicted_kept == 100
    assert plan.fractions == {0: pytest.approx(0.05), 1: 1.0}
    assert plan.multipliers == {0: 20.0, 1: 1.0}
    assert plan.minority_share == pytest.approx(0.005)
    assert plan.degree == "extreme"
    assert plan.minority_keys == ["1"] and plan.majority_keys == ["0"]


def test_default_minority_is_every_class_but_the_most_frequent():
    profile = ClassProfile(
        classes=(stats("a", "a", 900), stats("b", "b", 80), stats("c", "c", 20)), null_labels=0
    )
    assert minority_class_keys(profile, cfg()) == {"b", "c"}
    plan = plan_sampling(profile, cfg())
    assert plan.majority_keys == ["a"]
    assert plan.minority_share == pytest.approx(0.1)
    assert plan.degree == "moderate"


def test_multi_class_factor_mapping():
    profile = ClassProfile(
        classes=(stats("a", "a", 10_000), stats("b", "b", 5_000), stats("c", "c", 100), stats("d", "d", 50)),
        null_labels=0,
    )
    plan = plan_sampling(profile, cfg(minority_classes=["c"], downsampling={"factor": {"a": 10, "b": 4}}))
    by = {c.key: c for c in plan.classes}
    assert (by["a"].factor, by["b"].factor, by["c"].factor) == (10.0, 4.0, 1.0)
    # a majority class the mapping does not name is kept whole
    assert by["d"].role == "majority" and by["d"].factor == 1.0 and by["d"].fraction == 1.0
    assert by["d"].predicted_kept == 50
    assert not by["d"].downsampled and by["a"].downsampled
    # every class in the data has an explicit fraction
    assert set(plan.fractions) == {"a", "b", "c", "d"}


def test_factor_one_keeps_everything():
    profile = ClassProfile(classes=(stats("0", 0, 1_000, kept=37), stats("1", 1, 10)), null_labels=0)
    plan = plan_sampling(profile, cfg(downsampling={"factor": 1}))
    assert all(c.fraction == 1.0 and c.factor == 1.0 for c in plan.classes)
    assert plan.predicted_rows == 1_010


def test_source_weights_carry_into_the_plan():
    profile = ClassProfile(
        classes=(stats("0", 0, 1_000, weight_sum=2_500.0, kept=50, kept_weight=130.0), stats("1", 1, 10, weight_sum=7.5)),
        null_labels=0,
    )
    plan = plan_sampling(profile, cfg(downsampling={"factor": 20}))
    by = {c.key: c for c in plan.classes}
    assert by["0"].predicted_kept_weight == 130.0
    assert by["0"].predicted_kept_weight * by["0"].factor == pytest.approx(2_600.0)
    assert by["1"].predicted_kept_weight == 7.5


def test_boolean_and_string_labels_match_config():
    profile = ClassProfile(classes=(stats("false", False, 990), stats("true", True, 10)), null_labels=0)
    plan = plan_sampling(profile, cfg(minority_classes=[True]))
    assert plan.minority_keys == ["true"]
    assert plan.fractions == {False: pytest.approx(0.05), True: 1.0}


@pytest.mark.parametrize("m, n, t", [(50, 10_000, 0.10), (100, 1_000, 0.5), (1, 1_000_000, 0.2)])
def test_factor_for_minority_share_hits_target(m, n, t):
    f = factor_for_minority_share(m, n, t)
    share = m / (m + (n - m) / f)
    assert math.isclose(share, t, rel_tol=1e-12)


def test_factor_for_minority_share_never_below_one():
    assert factor_for_minority_share(400, 1_000, 0.10) == 1.0
