"""The plan per stratum (downsampling.strata): plain Python, no Spark."""

from __future__ import annotations

import math

import pytest

from imbalance_spark.config.load import parse_config
from imbalance_spark.errors import ConfigError
from imbalance_spark.plan import check_guards, factor_for_minority_share, plan_sampling, stratum_label
from imbalance_spark.profile import ClassProfile, ClassStats, StratumStats


def cfg(weight=None, **downsampling):
    data = {
        "dataset": "d",
        "input": {"path": "/in"},
        "label_column": "y",
        "minority_classes": [1],
        "downsampling": {"strata": ["country"], **downsampling},
        "output": {"path": "/out"},
        **({"weight": weight} if weight else {}),
    }
    return parse_config(data)


def stats(key, count, kept=None):
    return ClassStats(key=key, value=int(key), count=count, weight_sum=float(count),
                      kept_if_downsampled=kept, kept_weight_if_downsampled=None if kept is None else float(kept))


def profile(strata: dict[str | None, tuple[int, int]], kept: dict[str | None, int] | None = None) -> ClassProfile:
    """A stratified profile from {country: (negatives, positives)} (kept: negatives kept if downsampled)."""
    kept = kept or {}
    by_stratum = tuple(
        StratumStats(values=(country,), classes=tuple(
            c for c in (stats("0", neg, kept.get(country)), stats("1", pos, pos)) if c.count > 0
        ))
        for country, (neg, pos) in strata.items()
    )
    totals = {}
    for s in by_stratum:
        for c in s.classes:
            n, k = totals.get(c.key, (0, 0))
            totals[c.key] = (n + c.count, k + (c.kept_if_downsampled or 0))
    classes = tuple(stats(key, n, k if kept or key == "1" else None) for key, (n, k) in sorted(totals.items()))
    return ClassProfile(classes=classes, null_labels=0, strata=by_stratum)


# two countries whose base rates differ 25x: 0.2% and 5%
BASE = {"DE": (99_800, 200), "BR": (9_500, 500)}


def test_target_share_applies_to_each_stratum_own_counts():
    plan = plan_sampling(profile(BASE), cfg(target_minority_share=0.10))
    by = {s.values: s for s in plan.strata}
    de, br = by[("DE",)], by[("BR",)]
    assert de.derived_factor == pytest.approx(factor_for_minority_share(200, 100_000, 0.10))
    assert br.derived_factor == pytest.approx(factor_for_minority_share(500, 10_000, 0.10))
    # each stratum's expected output share is the target, whatever its base rate
    for s in (de, br):
        neg = next(c for c in s.classes if c.key == "0")
        pos = next(c for c in s.classes if c.key == "1")
        assert pos.count / (pos.count + neg.expected_kept) == pytest.approx(0.10)
        assert neg.multiplier == neg.factor and pos.factor == 1.0
    assert plan.stratum_fractions[("DE",)]["0"] == pytest.approx(1 / de.derived_factor)
    assert plan.stratum_fractions[("BR",)]["1"] == 1.0


def test_weighted_expected_counts_give_back_each_stratum_input():
    plan = plan_sampling(profile(BASE), cfg(target_minority_share=0.10))
    for s in plan.strata:
        for c in s.classes:
            assert c.expected_kept * c.multiplier == pytest.approx(c.count)


def test_class_totals_are_sums_with_an_effective_factor():
    plan = plan_sampling(profile(BASE), cfg(target_minority_share=0.10))
    neg = next(c for c in plan.classes if c.key == "0")
    assert neg.count == 99_800 + 9_500 and neg.varies
    expected = sum(next(c for c in s.classes if c.key == "0").expected_kept for s in plan.strata)
    assert neg.expected_kept == pytest.approx(expected)
    # a factor that differs between strata has no single prior correction: no class-level offset
    assert plan.logit_offsets == {} and plan.derived_factor is None
    assert not plan.kept_known  # derived factors: the sample is counted before the guards


def test_a_fixed_factor_is_the_same_in_every_stratum_and_keeps_its_offset():
    kept = {"DE": 4_990, "BR": 475}
    plan = plan_sampling(profile(BASE, kept), cfg(factor=20))
    assert {c.factor for s in plan.strata for c in s.classes if c.key == "0"} == {20.0}
    neg = next(c for c in plan.classes if c.key == "0")
    assert neg.factor == 20.0 and not neg.varies and neg.predicted_kept == 4_990 + 475
    assert plan.logit_offsets == {"0": pytest.approx(math.log(1 / 20))}
    assert plan.kept_known and check_guards(plan, 6) == []


def test_strata_without_positives_or_above_target_are_kept_whole_with_a_note():
    plan = plan_sampling(profile({"DE": (10_000, 100), "FR": (5_000, 0), "IT": (100, 900)}), cfg(target_minority_share=0.2))
    by = {s.values[0]: s for s in plan.strata}
    assert by["FR"].derived_factor == 1.0 and by["IT"].derived_factor == 1.0
    assert by["DE"].derived_factor > 1.0
    assert any("have no minority rows" in n and "country=FR" in n for n in plan.notes)
    assert any("at or above target_minority_share 0.2" in n and "country=IT" in n for n in plan.notes)


def test_guards_are_checked_per_stratum():
    plan = plan_sampling(profile(BASE), cfg(target_minority_share=0.10))
    de = next(s for s in plan.strata if s.values == ("DE",))
    expected_de = next(c for c in de.classes if c.key == "0").expected_kept
    good = {("DE",): {"0": (round(expected_de), 0.0), "1": (200, 200.0)}, ("BR",): {"0": (500, 500.0), "1": (500, 500.0)}}
    assert check_guards(plan.with_kept_strata(good), 6) == [
        "class 0 in stratum country=BR: 500 rows kept, outside 6 sigma of the expected 4,500.0 (sigma 48.7)"
    ]
    vanished = {**good, ("BR",): {"0": (0, 0.0), "1": (499, 499.0)}}
    problems = check_guards(plan.with_kept_strata(vanished), 6)
    assert "minority class 1 in stratum country=BR: 499 of 500 rows kept, expected all" in problems
    assert any(p.startswith("class 0 in stratum country=BR vanished: 0 of 9,500") for p in problems)


def test_with_kept_strata_sums_into_the_classes():
    plan = plan_sampling(profile(BASE), cfg(target_minority_share=0.10))
    kept = {("DE",): {"0": (1_800, 1_800.0), "1": (200, 200.0)}, ("BR",): {"0": (4_500, 4_500.0), "1": (500, 500.0)}}
    measured = plan.with_kept_strata(kept)
    assert {c.key: c.predicted_kept for c in measured.classes} == {"0": 6_300, "1": 700}
    assert measured.kept_known and measured.predicted_rows == 7_000


def test_realized_weights_per_stratum():
    plan = plan_sampling(profile(BASE), cfg(target_minority_share=0.10))
    realized = plan_sampling(profile(BASE), cfg(weight={"mode": "realized"}, target_minority_share=0.10))
    kept = {("DE",): {"0": (1_700, 1_700.0), "1": (200, 200.0)}, ("BR",): {"0": (4_000, 4_000.0), "1": (500, 500.0)}}
    multipliers = realized.with_kept_strata(kept).stratum_multipliers
    assert multipliers[("DE",)]["0"] == pytest.approx(99_800 / 1_700)
    assert multipliers[("BR",)]["0"] == pytest.approx(9_500 / 4_000)
    assert plan.with_kept_strata(kept).stratum_multipliers[("DE",)]["0"] == pytest.approx(plan.strata[0].derived_factor)


def test_unstratified_plan_has_no_strata():
    data = {"dataset": "d", "input": {"path": "/in"}, "label_column": "y", "downsampling": {"factor": 20},
            "output": {"path": "/out"}}
    plain = parse_config(data)
    p = ClassProfile(classes=(stats("0", 1_000, 50), stats("1", 10, 10)), null_labels=0)
    plan = plan_sampling(p, plain)
    assert plan.strata == () and plan.strata_columns == ()
    assert plan.logit_offsets == {"0": pytest.approx(math.log(1 / 20))}
    assert "strata" not in plain.summary()["downsampling"] and "max_strata" not in plain.summary()["downsampling"]


def test_stratum_labels_name_columns_and_nulls():
    assert stratum_label(("country", "channel"), ("DE", None)) == "country=DE, channel=null"


@pytest.mark.parametrize(
    "strata, message",
    [
        (["country", "Country"], "names a column twice"),
        (["y"], "the label and weight columns cannot be strata columns"),
        (["example_weight"], "the label and weight columns cannot be strata columns"),
    ],
)
def test_strata_config_errors(strata, message):
    with pytest.raises(ConfigError, match=message):
        cfg(factor=10, strata=strata)


def test_max_strata_must_be_positive():
    with pytest.raises(ConfigError, match="max_strata"):
        cfg(factor=10, max_strata=0)
