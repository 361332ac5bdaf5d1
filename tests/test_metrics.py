"""Test-slice metrics (Spark aggregations) and the factor recommendation (plain Python)."""

from __future__ import annotations

import math

import pytest

from imbalance_spark.metrics import positives_needed, prediction_metrics, recommend_factor

ROWS = [(0.0, 0.1), (0.0, 0.2), (0.0, 0.1), (1.0, 0.3), (0.0, 0.6), (1.0, 0.7), (1.0, 0.9), (0.0, 0.4)]


def test_prediction_metrics_match_hand_computation(spark):
    df = spark.createDataFrame(ROWS, "__y double, __p double")
    m = prediction_metrics(df, bins=2)
    ys, ps = [y for y, _ in ROWS], [p for _, p in ROWS]
    assert m["rows"] == 8 and m["positives"] == 3
    assert m["base_rate"] == pytest.approx(3 / 8)
    assert m["mean_prediction"] == pytest.approx(sum(ps) / 8)
    assert m["calibration_ratio"] == pytest.approx(sum(ps) / 3)
    log_loss = -sum(y * math.log(p) + (1 - y) * math.log(1 - p) for y, p in ROWS) / 8
    assert m["log_loss"] == pytest.approx(log_loss)
    assert m["brier"] == pytest.approx(sum((p - y) ** 2 for y, p in ROWS) / 8)
    # two equal-mass bins: the four lowest and the four highest predictions
    low, high = sorted(ROWS, key=lambda r: r[1])[:4], sorted(ROWS, key=lambda r: r[1])[4:]
    assert [b["rows"] for b in m["calibration_bins"]] == [4, 4]
    ece = sum(abs(sum(p for _, p in b) / 4 - sum(y for y, _ in b) / 4) * 4 / 8 for b in (low, high))
    assert m["ece"] == pytest.approx(ece)
    # ROC-AUC by counting pairs: P(score of a positive > score of a negative)
    pos = [p for y, p in ROWS if y == 1]
    neg = [p for y, p in ROWS if y == 0]
    pairs = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / (len(pos) * len(neg))
    assert m["roc_auc"] == pytest.approx(pairs)
    assert 0 < m["pr_auc"] <= 1
    assert ys.count(1.0) == 3


def test_one_class_has_no_auc(spark):
    m = prediction_metrics(spark.createDataFrame([(0.0, 0.1), (0.0, 0.2)], "__y double, __p double"))
    assert m["positives"] == 0 and m["pr_auc"] is None and m["roc_auc"] is None and m["calibration_ratio"] is None


def sweep(points):
    return [
        {"factor": f, "variants": {"weighted": {"pr_auc": pr, "calibration_ratio": ratio}}} for f, pr, ratio in points
    ]


RULE = {"tolerance": 0.02, "calibration_tolerance": 0.10, "min_test_positives": 400}


def test_recommends_the_largest_factor_that_keeps_pr_auc_and_calibration():
    s = sweep([(1.0, 0.50, 1.00), (5.0, 0.495, 1.02), (10.0, 0.492, 0.95), (20.0, 0.47, 1.01), (50.0, 0.491, 1.3)])
    rec = recommend_factor(s, 1000, **RULE)
    assert rec["factor"] == 10.0
    assert "F = 10 is the largest factor" in rec["reason"] and "F = 20 loses 6.0% PR-AUC" in rec["reason"]
    assert rec["checks"]["50"]["pr_auc_ok"] and not rec["checks"]["50"]["calibrated"]


def test_no_recommendation_with_too_few_test_positives():
    rec = recommend_factor(sweep([(1.0, 0.5, 1.0), (10.0, 0.5, 1.0)]), 120, **RULE)
    assert rec["factor"] is None
    assert "only 120 positives; at least 400 are needed" in rec["reason"]
    assert rec["needed_test_positives"] == 400
    # a tighter calibration band needs more positives: (2 / 0.05)^2
    assert positives_needed(0.05) == 1600


def test_no_recommendation_when_even_f1_is_miscalibrated():
    rec = recommend_factor(sweep([(1.0, 0.5, 1.4), (10.0, 0.5, 1.4)]), 1000, **RULE)
    assert rec["factor"] is None and "even F = 1 predicts 1.4x the test base rate" in rec["reason"]
