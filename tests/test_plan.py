"""Plan arithmetic and degree boundaries: plain Python, no Spark."""

from __future__ import annotations

import math

import pytest

from imbalance_spark.config.load import parse_config
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


def test_target_share_derives_factor_and_leaves_kept_unknown():
    profile = ClassProfile(
        classes=(
            ClassStats("0", 0, 99_500, 99_500.0, None, None),
            ClassStats("1", 1, 500, 500.0, None, None),
        ),
        null_labels=0,
    )
    plan = plan_sampling(profile, cfg(minority_classes=[1], downsampling={"target_minority_share": 0.10}))
    assert plan.derived_factor == pytest.approx(0.1 * 99_500 / (500 * 0.9))
    by = {c.key: c for c in plan.classes}
    assert by["0"].factor == pytest.approx(plan.derived_factor)
    assert by["0"].predicted_kept is None and not plan.kept_known
    assert by["1"].predicted_kept == 500
    measured = plan.with_kept({"0": (4_480, 4_480.0), "1": (500, 500.0)})
    assert measured.kept_known and measured.predicted_rows == 4_980


def test_target_at_or_below_current_share_is_factor_one_with_note():
    profile = ClassProfile(
        classes=(ClassStats("0", 0, 700, 700.0, None, None), ClassStats("1", 1, 300, 300.0, None, None)), null_labels=0
    )
    plan = plan_sampling(profile, cfg(minority_classes=[1], downsampling={"target_minority_share": 0.2}))
    assert all(c.factor == 1.0 for c in plan.classes) and plan.kept_known
    assert any("at or below the current minority share" in n for n in plan.notes)


def test_skip_if_degree_keeps_everything_and_says_why():
    profile = ClassProfile(classes=(stats("0", 0, 700, kept=35), stats("1", 1, 300)), null_labels=0)
    plan = plan_sampling(profile, cfg(minority_classes=[1], downsampling={"factor": 20, "skip_if_degree": ["mild", "none"]}))
    assert plan.degree == "mild"
    assert plan.skipped and "skip_if_degree" in plan.skipped and "true distribution" in plan.skipped
    assert all(c.fraction == 1.0 and c.multiplier == 1.0 for c in plan.classes)
    assert plan.predicted_rows == 1_000
    not_skipped = plan_sampling(profile, cfg(minority_classes=[1], downsampling={"factor": 20, "skip_if_degree": ["none"]}))
    assert not not_skipped.skipped and not_skipped.classes[0].factor == 20.0


def test_realized_weights_restore_class_totals():
    profile = ClassProfile(
        classes=(stats("0", 0, 1_000, weight_sum=2_000.0, kept=52, kept_weight=98.0), stats("1", 1, 10, weight_sum=10.0)),
        null_labels=0,
    )
    plan = plan_sampling(profile, cfg(weight={"mode": "realized"}))
    by = {c.key: c for c in plan.classes}
    assert by["0"].factor == 20.0
    assert by["0"].realized_factor == pytest.approx(2_000.0 / 98.0)
    assert by["0"].multiplier == by["0"].realized_factor
    assert by["0"].predicted_kept_weight * by["0"].multiplier == pytest.approx(2_000.0, rel=1e-12)
    assert by["1"].realized_factor == 1.0 and by["1"].multiplier == 1.0
    nominal = plan_sampling(profile, cfg())
    assert nominal.classes[0].multiplier == 20.0


def test_logit_offset_is_log_of_one_over_factor():
    profile = ClassProfile(classes=(stats("0", 0, 1_000, kept=50), stats("1", 1, 10)), null_labels=0)
    by = {c.key: c for c in plan_sampling(profile, cfg()).classes}
    assert by["0"].logit_offset == pytest.approx(math.log(1 / 20))
    assert by["1"].logit_offset == 0.0


def test_absent_configured_classes_are_reported():
    profile = ClassProfile(classes=(stats("a", "a", 1_000, kept=100), stats("b", "b", 10)), null_labels=0)
    plan = plan_sampling(profile, cfg(minority_classes=["b", "z"], downsampling={"factor": {"a": 10, "q": 3}}))
    assert plan.absent_classes == ("q", "z")
    assert any("do not occur" in n for n in plan.notes)


@pytest.mark.parametrize(
    "kept, problem",
    [
        ({"0": (500, 500.0), "1": (9, 9.0)}, "minority class 1: 9 of 10 rows kept, expected all"),
        ({"0": (0, 0.0), "1": (10, 10.0)}, "class 0 vanished: 0 of 10,000 rows kept"),
        ({"0": (700, 700.0), "1": (10, 10.0)}, "class 0: 700 rows kept, outside 6 sigma of the expected 500.0"),
    ],
)
def test_guards_catch_bad_samples(kept, problem):
    from imbalance_spark.plan import check_guards

    profile = ClassProfile(classes=(stats("0", 0, 10_000, kept=500), stats("1", 1, 10)), null_labels=0)
    plan = plan_sampling(profile, cfg())
    assert check_guards(plan, 6) == []
    bad = plan.with_kept(kept)
    problems = check_guards(bad, 6)
    assert any(problem in p for p in problems), problems
