"""The one-pass scoring (evaluate/scoring.py) against MLlib's evaluator and the row-level metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.sql import functions as F

from imbalance_spark.evaluate.metrics import LABEL, SCORE, prediction_metrics
from imbalance_spark.evaluate.scoring import (
    GRID_PER_LOGIT,
    ScoreHistogram,
    equal_mass_edges,
    histogram_metrics,
    roc_auc_from_bins,
    score_histogram,
    score_histograms,
)

ROWS = 6_000


def mllib(df, metric: str, num_bins: int = 1000) -> float:
    evaluator = BinaryClassificationEvaluator(rawPredictionCol=SCORE, labelCol=LABEL, metricName=metric,
                                              numBins=num_bins)
    return evaluator.evaluate(df)


def scored_rows(spark, rows: int = ROWS, seed: int = 5):
    """A model's scores on a logit scale (about 6% positives, drawn at the score's own rate)."""

    def uniform(stream):
        h = F.xxhash64(F.col("id"), F.lit(seed), F.lit(stream))
        return F.shiftrightunsigned(h, 11).cast("double") / F.lit(float(2**53))

    normal = F.sqrt(-2.0 * F.log(F.lit(1.0) - uniform(1))) * F.cos(2 * math.pi * uniform(2))
    p = F.lit(1.0) / (F.lit(1.0) + F.exp(-(F.lit(-3.5) + F.lit(1.4) * normal)))
    return spark.range(0, rows, 1, 2).select(
        (uniform(3) < p).cast("double").alias(LABEL), p.alias(SCORE), (p * 0.8).alias("__p_other"))


@pytest.fixture(scope="module")
def scored(spark):
    """The scored rows, both ways: the one-pass metrics and today's row-level metrics with MLlib's areas."""
    df = scored_rows(spark).persist()
    one_pass = histogram_metrics(score_histogram(df), bins=10, score_bins=1000)
    row_level = prediction_metrics(df, bins=10)
    exact = {m: mllib(df, m, num_bins=0) for m in ("areaUnderPR", "areaUnderROC")}
    yield df, one_pass, row_level, exact
    df.unpersist()


def test_one_pass_areas_match_mllibs_evaluator(scored):
    _, one_pass, row_level, exact = scored
    # MLlib's exact curve (numBins 0): the grid of 1,000 bins per logit unit ties only scores within
    # 0.1% in the odds
    assert one_pass["pr_auc"] == pytest.approx(exact["areaUnderPR"], rel=2e-3)
    assert one_pass["roc_auc"] == pytest.approx(exact["areaUnderROC"], abs=5e-4)
    # the evaluator as the report used it (1,000 bins by default: 6 rows each here) is itself binned,
    # and further from the exact area (measured 0.27371, 4e-3 relative) than the grid is
    assert one_pass["pr_auc"] == pytest.approx(row_level["pr_auc"], rel=1e-2)
    assert abs(one_pass["pr_auc"] - exact["areaUnderPR"]) <= abs(row_level["pr_auc"] - exact["areaUnderPR"])
    assert one_pass["roc_auc"] == pytest.approx(row_level["roc_auc"], abs=5e-4)


def test_one_pass_sums_equal_the_row_level_metrics(scored):
    _, one_pass, row_level, _ = scored
    for key in ("rows", "positives", "base_rate"):
        assert one_pass[key] == row_level[key]
    for key in ("mean_prediction", "calibration_ratio", "log_loss", "brier"):
        assert one_pass[key] == pytest.approx(row_level[key], rel=1e-9)
    # equal-mass bins from merged grid bins instead of percentile_approx's edges: the same bins but
    # for the rows within one grid bin of an edge
    assert len(one_pass["calibration_bins"]) == len(row_level["calibration_bins"]) == 10
    for a, b in zip(one_pass["calibration_bins"], row_level["calibration_bins"], strict=True):
        assert abs(a["rows"] - b["rows"]) <= 0.05 * b["rows"]
        assert a["mean_prediction"] == pytest.approx(b["mean_prediction"], rel=0.02)
    assert one_pass["ece"] == pytest.approx(row_level["ece"], abs=2e-3)


def test_score_edges_are_about_equal_mass(scored):
    df, one_pass, _, _ = scored
    edges = one_pass["score_edges"]
    assert edges == sorted(edges) and 500 < len(edges) < 1000  # ties on the grid merge edges
    counts = np.histogram(np.array([r[SCORE] for r in df.select(SCORE).collect()]), [0.0, *edges, 1.0])[0]
    assert counts.sum() == ROWS and counts.max() <= 3 * ROWS / 1000


def test_a_bin_per_distinct_score_gives_mllibs_exact_areas(spark):
    # scores far apart on the grid: every distinct score has its own bin, the areas are MLlib's exactly
    rows = [(1.0, 0.9), (0.0, 0.5), (1.0, 0.3), (0.0, 0.3), (0.0, 0.1), (1.0, 0.6), (0.0, 0.05)]
    df = spark.createDataFrame(rows, f"{LABEL} double, {SCORE} double")
    m = histogram_metrics(score_histogram(df), bins=2)
    assert m["pr_auc"] == pytest.approx(mllib(df, "areaUnderPR", 0), abs=1e-12)
    assert m["roc_auc"] == pytest.approx(mllib(df, "areaUnderROC", 0), abs=1e-12)
    pos = [p for y, p in rows if y == 1]
    neg = [p for y, p in rows if y == 0]
    assert m["roc_auc"] == pytest.approx(sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / 12)


def test_several_scores_share_one_pass(scored):
    df, one_pass, _, _ = scored
    both = score_histograms(df, {"a": SCORE, "b": "__p_other"})
    assert histogram_metrics(both["a"], 10)["pr_auc"] == one_pass["pr_auc"]
    other = histogram_metrics(both["b"], 10)
    assert other["mean_prediction"] == pytest.approx(0.8 * one_pass["mean_prediction"], rel=1e-9)


def test_roc_area_counts_ties_as_half_a_pair():
    # highest score first: a positive alone, then a positive tied with a negative, then a negative
    assert roc_auc_from_bins(np.array([1.0, 1.0, 0.0]), np.array([0.0, 1.0, 1.0])) == pytest.approx(0.875)
    h = ScoreHistogram(np.array([-2, 5]), np.array([3, 1]), np.array([1, 0]), np.zeros(2), np.zeros(2), np.zeros(2))
    assert equal_mass_edges(h, 2) == [pytest.approx(1 / (1 + math.exp(1 / GRID_PER_LOGIT)))]
