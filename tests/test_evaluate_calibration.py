"""Normalized entropy and calibration per test day and per segment (evaluate/calibration.py, metrics,
recommend, render, figures, MLflow flattening).

One small evaluation (in process, tests/conftest.py's `segment_evaluation`, which test_tracking.py
reads back from MLflow too) with a date split and `segments: [segment]`, of a model blind to the
segment (so that F = 1 is already miscalibrated on segment b), is shared by the end-to-end
assertions; the rule itself is tested in plain Python.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import yaml

from imbalance_spark.cli import main
from imbalance_spark.config.load import parse_config
from imbalance_spark.evaluate.calibration import (
    DAY_COLUMN,
    SEGMENT_PREFIX,
    check_segments,
    group_calibration,
    segment_columns,
)
from imbalance_spark.evaluate.metrics import LABEL, SCORE, normalized_entropy, prediction_metrics
from imbalance_spark.evaluate.recommend import group_positives_needed, recommend_factor
from imbalance_spark.evaluate.render import render_evaluation
from imbalance_spark.evaluate.report import (
    DayCalibration,
    EvaluationReport,
    PrAucComparison,
    SweepPoint,
    VariantMetrics,
)
from imbalance_spark.tracking.flatten import evaluation_params_and_metrics
from tests.conftest import SEGMENT_FACTOR, segment_config, write_config

FACTOR = SEGMENT_FACTOR
config_data = segment_config


@pytest.fixture(scope="module")
def evaluation(segment_evaluation):
    """The shared evaluation (tests/conftest.py): the typed report and its output folder."""
    return EvaluationReport.from_dict(segment_evaluation.report), segment_evaluation.out


def test_group_calibration_matches_a_hand_count(spark):
    rows = [("2026-01-01", "a", 1.0, 0.5), ("2026-01-01", "b", 0.0, 0.25), ("2026-01-02", "a", 0.0, 0.25),
            ("2026-01-02", "a", 1.0, 0.75), ("2026-01-02", None, 0.0, 0.1)]
    schema = f"`{DAY_COLUMN}` string, `{SEGMENT_PREFIX}seg` string, {LABEL} double, {SCORE} double"
    got = group_calibration(spark.createDataFrame(rows, schema), LABEL, SCORE)
    assert got["calibration_by_day"] == [
        {"date": "2026-01-01", "rows": 2, "positives": 1, "mean_prediction": 0.375, "calibration_ratio": 0.75},
        {"date": "2026-01-02", "rows": 3, "positives": 1, "mean_prediction": pytest.approx(1.1 / 3),
         "calibration_ratio": pytest.approx(1.1)},
    ]
    assert got["calibration_by_segment"] == {"seg": [
        {"value": "a", "rows": 3, "positives": 2, "mean_prediction": 0.5, "calibration_ratio": 0.75},
        {"value": "b", "rows": 1, "positives": 0, "mean_prediction": 0.25, "calibration_ratio": None},
        {"value": None, "rows": 1, "positives": 0, "mean_prediction": 0.1, "calibration_ratio": None},
    ]}
    # without day or segment columns: no tables (and no aggregation)
    plain = spark.createDataFrame([(r[2], r[3]) for r in rows], f"{LABEL} double, {SCORE} double")
    assert group_calibration(plain, LABEL, SCORE) == {}
    m = prediction_metrics(plain, bins=2)
    assert "calibration_by_day" not in m
    rate = 2 / 5
    entropy = -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate))
    assert m["normalized_entropy"] == pytest.approx(m["log_loss"] / entropy)


def test_normalized_entropy_is_one_for_the_base_rate_and_undefined_for_one_class():
    rate = 0.02
    base_log_loss = -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate))
    assert normalized_entropy(base_log_loss, rate) == pytest.approx(1.0)
    assert normalized_entropy(0.5 * base_log_loss, rate) == pytest.approx(0.5)
    assert normalized_entropy(0.1, 0.0) is None and normalized_entropy(None, 0.1) is None


def _variant(ratio: float, groups: list[tuple[str, int, float]]) -> VariantMetrics:
    """A weighted variant whose days are ``groups`` (date, positives, mean p / observed rate)."""
    days = tuple(DayCalibration(d, 10 * n, n, 0.1 * r, r) for d, n, r in groups)
    return VariantMetrics(rows=0, positives=0, base_rate=0.1, mean_prediction=0.1 * ratio, calibration_ratio=ratio,
                          ece=None, log_loss=None, brier=None, pr_auc=0.5, roc_auc=None, calibration_bins=(),
                          pr_auc_vs_f1=None, train_seconds=0.0, iterations=None, calibration_by_day=days)


def _sweep(days_by_factor: dict[float, list[tuple[str, int, float]]]) -> list[SweepPoint]:
    out = []
    for f, days in days_by_factor.items():
        v = _variant(1.0, days)
        if f != 1.0:  # PR-AUC shown within the tolerance at every F
            v = dataclasses.replace(v, pr_auc_vs_f1=PrAucComparison(0.0, -0.005, 0.005, 0.005))
        out.append(SweepPoint(factor=f, train_rows=0, sample_bytes=0, logit_offset=0.0, classes={},
                              variants={"weighted": v}))
    return out


RULE = {"tolerance": 0.02, "calibration_tolerance": 0.10, "min_test_positives": 400}


def test_an_f_is_refused_only_by_a_group_with_enough_positives_to_tell():
    assert group_positives_needed(0.10) == 900 and group_positives_needed(0.30) == 100
    good = [("d1", 2000, 1.02), ("d2", 1500, 0.97)]
    s = _sweep({1.0: good, 10.0: good + [("d3", 950, 1.15)], 20.0: good + [("d3", 899, 1.6)]})
    # F = 10's day d3 has 950 positives (>= 900) and is 15% off: refused; F = 20's d3 is far off but with
    # 899 positives cannot tell: F = 20 passes, and is the largest
    rec = recommend_factor(s, 5000, **RULE)
    assert rec.factor == 20.0 and rec.group_positives == 900 and "900" in rec.group_rule
    ten, twenty = rec.checks["10"], rec.checks["20"]
    assert not ten.groups_calibrated and ten.groups_checked == 3
    assert [(o.by, o.value, o.positives) for o in ten.groups_off] == [("day", "d3", 950)]
    assert twenty.groups_calibrated and twenty.groups_checked == 2
    assert "also on the 2 of 3 test days and segment values with at least 900 positives" in rec.reason
    # without F = 20, F = 10's day decides, and the reason names it
    rec = recommend_factor(s[:2], 5000, **RULE)
    assert rec.factor == 1.0 and "F = 10 predicts 1.15x the observed rate on day d3 (950 positives)" in rec.reason
    # F = 1 itself off on a day with enough positives: no factor passes
    rec = recommend_factor(_sweep({1.0: [("d1", 1000, 0.8)], 10.0: good}), 5000, **RULE)
    assert rec.factor is None and rec.reason.startswith("no factor passes: even F = 1 predicts 0.8x")
    # no groups in the sweep: no group keys in the recommendation's JSON
    plain = recommend_factor(_sweep({1.0: [], 10.0: []}), 5000, **RULE)
    assert plain.factor == 10.0


def test_every_variant_has_calibration_per_day_and_segment(evaluation):
    report, _ = evaluation
    test = report.test
    assert report.calibration_groups.date_column == "event_date"
    assert report.calibration_groups.segments == ("segment",)
    for s in report.sweep:
        for name, v in s.variants.items():
            days, segments = v.calibration_by_day, v.calibration_by_segment["segment"]
            assert [d.date for d in days] == ["2026-01-04", "2026-01-05"], name
            assert [g.value for g in segments] == ["a", "b", "c", None]
            for table in (days, segments):
                # every test row once per table; the rows' mean p is the variant's
                assert sum(g.rows for g in table) == test.rows and sum(g.positives for g in table) == test.positives
                mean_p = sum(g.rows * g.mean_prediction for g in table) / test.rows
                assert mean_p == pytest.approx(v.mean_prediction, rel=1e-9)
                for g in table:
                    assert g.calibration_ratio == pytest.approx(g.mean_prediction * g.rows / g.positives)
            assert v.normalized_entropy == pytest.approx(
                v.log_loss / -(v.base_rate * math.log(v.base_rate) + (1 - v.base_rate) * math.log(1 - v.base_rate)))


def test_a_model_blind_to_the_segment_is_refused_at_every_f(evaluation):
    report, _ = evaluation
    for s in report.sweep:
        for d in s.variants["weighted"].calibration_by_day:
            # every day has the same mix of segments: the weighted model is calibrated per day, within
            # 5 binomial standard errors of 1 (relative s.e. ~ 1/sqrt(positives))
            assert abs(d.calibration_ratio - 1.0) < 5 / math.sqrt(d.positives), (s.factor, d)
    # the unweighted model over-predicts on every day and segment value (the sample's odds are F x the true odds)
    ten = report.point(FACTOR).variants
    weighted = {(by, value): g.calibration_ratio for by, value, g in ten["weighted"].calibration_groups()}
    pairs = [(weighted[by, value], g.calibration_ratio) for by, value, g in ten["unweighted"].calibration_groups()
             if g.positives >= 100]
    assert len(pairs) >= 4 and all(u > 2.0 * w for w, u in pairs), pairs
    # segment b (logit +0.8) is under-predicted by ~2x, already at F = 1: no F passes, and the reason says where
    rec = report.recommendation
    assert rec.group_positives == 100
    off = {(o.by, o.value): o.calibration_ratio for o in rec.checks["1"].groups_off}
    assert off[("segment", "b")] < 0.75 and not rec.checks["1"].groups_calibrated, off
    assert rec.checks["1"].calibrated  # the average hides it
    assert rec.factor is None and rec.reason.startswith("no factor passes: even F = 1 predicts")
    assert "x the observed rate on segment = " in rec.reason


def test_json_console_figure_and_mlflow_carry_them(evaluation):
    report, out = evaluation
    written = json.loads((out / "evaluate" / "evaluate.json").read_text())
    weighted = written["sweep"][1]["variants"]["weighted"]
    keys = list(weighted)
    assert keys[keys.index("log_loss") + 1] == "normalized_entropy"  # beside log_loss
    assert weighted["calibration_by_day"][0]["date"] == "2026-01-04"
    assert set(weighted["calibration_by_segment"]) == {"segment"}
    assert written["recommendation"]["group_positives"] == 100
    assert EvaluationReport.from_dict(written).to_dict() == written
    text = render_evaluation(report)
    header = text.splitlines()[2]
    assert header.index("log loss") < header.index("NE") < header.index("Brier")
    assert "calibration per test day and segment (weighted model" in text
    assert "  F = 10: " in text and " checked, " in text
    png = Path(written["figures"]["calibration_groups"])
    assert png.parent == out / "evaluate" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _, metrics, steps = evaluation_params_and_metrics(report)
    assert metrics["sweep.F10.variants.weighted.normalized_entropy"] == weighted["normalized_entropy"]
    day = "sweep.F10.variants.weighted.calibration_by_day.2026-01-04.calibration_ratio"
    assert metrics[day] == weighted["calibration_by_day"][0]["calibration_ratio"]
    assert "sweep.F10.variants.weighted.calibration_by_segment.segment.a.calibration_ratio" in metrics
    assert not any(k.startswith("sweep.F10.variants.weighted.calibration_by_day") and not k.endswith("_ratio")
                   for k in metrics)
    assert ("sweep.variants.weighted.normalized_entropy", weighted["normalized_entropy"], 10) in steps


def test_too_many_segment_values_are_refused_before_any_fit(segment_table, tmp_path, capsys):
    data = config_data(segment_table, tmp_path, ["x1"], segments=["segment", "id"], max_segment_values=500)
    path = write_config(tmp_path / "many.yaml", yaml.safe_dump(data))
    report = tmp_path / "evaluate" / "evaluate.json"
    report.parent.mkdir()
    report.write_text("{}")
    assert main(["evaluate", "--config", str(path), "-q"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "imbalance-spark: error: evaluate.segments: column 'id' has 4,000 distinct values in the test slice, more"
        " than evaluate.max_segment_values 500; segment by a coarser column (a region, a channel) or raise"
        " evaluate.max_segment_values"
    ]
    assert report.read_text() == "{}"  # the existing output untouched


@pytest.mark.parametrize("segments, message", [
    (["nope"], "evaluate.segments: column 'nope' is not in the input"),
    (["label"], "evaluate.segments: 'label' is the label_column"),
])
def test_bad_segment_columns_are_one_line_errors(spark, segment_table, tmp_path, segments, message):
    """The flow's check (evaluate_job calls it on the test slice before any fit, as the CLI test above
    shows); a missing or label column is refused from the schema alone, before any Spark job."""
    from imbalance_spark.errors import InputError

    data = config_data(segment_table, tmp_path, ["x1"], segments=segments)
    with pytest.raises(InputError, match=message) as info:
        check_segments(spark.read.format("delta").load(segment_table), parse_config(data))
    assert "\n" not in str(info.value)


def test_segments_default_to_none_and_repeat_is_a_config_error(tmp_path):
    from imbalance_spark.errors import ConfigError

    data = config_data("/data/in", tmp_path, ["x1"])
    data["evaluate"].pop("segments")
    assert segment_columns(parse_config(data)) == []
    # a stratified job: each stratum's calibration by default, unless segments say otherwise
    data["downsampling"]["strata"] = ["segment"]
    assert segment_columns(parse_config(data)) == ["segment"]
    data["evaluate"]["segments"] = []
    assert segment_columns(parse_config(data)) == []
    data["evaluate"].pop("segments")
    data["downsampling"].pop("strata")
    data["evaluate"]["segments"] = ["segment", "segment"]
    with pytest.raises(ConfigError, match=r"segment column\(s\) \['segment'\] listed twice"):
        parse_config(data)
