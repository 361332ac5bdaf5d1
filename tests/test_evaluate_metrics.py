"""Test-slice metrics (Spark aggregations) and the factor recommendation (plain Python)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.sql import functions as F

from imbalance_spark.evaluate.bootstrap import (
    BASELINE_BIN,
    ROW_ID,
    SCORE_BIN,
    paired_pr_auc_bootstrap,
    pr_auc_comparison,
    pr_auc_from_bins,
    with_score_bin,
)
from imbalance_spark.evaluate.metrics import EDGE_SAMPLE, LABEL, SCORE, prediction_metrics
from imbalance_spark.evaluate.recommend import positives_needed, recommend_factor
from imbalance_spark.evaluate.report import PrAucComparison, SweepPoint, VariantMetrics

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


def mllib_pr_auc(df, score: str = SCORE, num_bins: int = 1000) -> float:
    evaluator = BinaryClassificationEvaluator(rawPredictionCol=score, labelCol=LABEL, metricName="areaUnderPR",
                                              numBins=num_bins)
    return evaluator.evaluate(df)


def test_pr_auc_from_bins_is_mllibs_trapezoid(spark):
    # highest score first: an empty bin, a positive, a negative, then a positive and a negative tied
    area = pr_auc_from_bins(np.array([0.0, 1, 0, 1]), np.array([0.0, 0, 1, 1]))
    # points (0, 1) -> (0.5, 1) -> (0.5, 0.5) -> (1, 0.5): 0.5 * 1 + 0.5 * 0.5
    assert area == pytest.approx(0.75)
    rows = [(1.0, 0.9), (0.0, 0.5), (1.0, 0.3), (0.0, 0.3)]
    assert mllib_pr_auc(spark.createDataFrame(rows, "__y double, __p double")) == pytest.approx(0.75)
    assert math.isnan(pr_auc_from_bins(np.array([0.0, 0.0]), np.array([1.0, 2.0])))


def with_bins(df, baseline_edges, edges):
    return df.transform(with_score_bin, "__p_1", baseline_edges, BASELINE_BIN).transform(
        with_score_bin, SCORE, edges, SCORE_BIN
    )


def test_binned_pr_auc_equals_mllib_with_a_bin_per_distinct_score(spark):
    df = spark.createDataFrame([(i, y, p, p) for i, (y, p) in enumerate(ROWS)], "id long, __y double, __p double, __p_1 double")
    df = df.withColumn(ROW_ID, F.xxhash64("id"))
    edges = sorted({p for _, p in ROWS})
    boot = paired_pr_auc_bootstrap(with_bins(df, edges, edges), replicates=20, seed=1)
    assert boot["binned_pr_auc"] == pytest.approx(mllib_pr_auc(df), abs=1e-12)
    assert boot["binned_baseline_pr_auc"] == boot["binned_pr_auc"]
    # the same model on the same rows: every replicate's difference is exactly zero
    # (a replicate that draws none of the three positives has no area and is left out)
    assert boot["binned_difference"] == 0.0 and boot["stderr"] == 0.0 and 10 <= boot["valid_replicates"] <= 20


PAIRED_ROWS = 40_000


def paired_scores(spark, rows: int = PAIRED_ROWS, partitions: int = 2, seed: int = 3, noise: float = 0.6):
    """Test rows scored by two models of one signal: ``__p_1`` (F = 1) sees it whole, ``__p`` with noise."""

    def uniform(stream):
        h = F.xxhash64(F.col("id"), F.lit(seed), F.lit(stream))
        return F.shiftrightunsigned(h, 11).cast("double") / F.lit(float(2**53))

    def normal(stream):
        return F.sqrt(-2.0 * F.log(F.lit(1.0) - uniform(stream))) * F.cos(2 * math.pi * uniform(stream + 1))

    logit = F.lit(-4.0) + F.lit(1.5) * normal(1)
    return (
        spark.range(0, rows, 1, partitions)
        .withColumn("__logit", logit)
        .select(
            F.xxhash64("id").alias(ROW_ID),
            (uniform(5) < F.lit(1.0) / (F.lit(1.0) + F.exp(-F.col("__logit")))).cast("double").alias(LABEL),
            (F.lit(1.0) / (F.lit(1.0) + F.exp(-F.col("__logit")))).alias("__p_1"),
            (F.lit(1.0) / (F.lit(1.0) + F.exp(-F.col("__logit") - F.lit(noise) * normal(3)))).alias(SCORE),
        )
    )


def edges_of(df, score: str, bins: int = 1000, test_rows: int = PAIRED_ROWS):
    return prediction_metrics(df.select(ROW_ID, LABEL, F.col(score).alias(SCORE)), 2, bins, test_rows)["score_edges"]


def exact_edges(df, bins: int = 1000) -> tuple[list[float], list[float]]:
    """Both scores' edges of ``bins`` equal-mass bins: exact (linearly interpolated) percentiles.

    The values ``F.percentile`` gives (prediction_metrics' edges without its row sample, to 1e-16),
    computed with NumPy from the test rows' two scores: at 40,000 rows and 999 percentiles Spark's
    exact percentile costs seconds per column, the collect and NumPy about one for both.
    """
    scores = np.array(df.select("__p_1", SCORE).collect(), dtype=float)
    qs = [i / bins for i in range(1, bins)]
    return tuple(sorted(set(np.quantile(scores[:, i], qs).tolist())) for i in (0, 1))


@pytest.fixture(scope="module")
def paired(spark):
    df = paired_scores(spark).persist()
    yield df, *exact_edges(df)
    df.unpersist()


def test_binned_pr_auc_agrees_with_mllib_on_the_point_estimate(paired):
    df, base_edges, edges = paired
    boot = paired_pr_auc_bootstrap(with_bins(df, base_edges, edges), replicates=20, seed=1)
    assert boot["score_bins"] >= 990
    reported, reported_1 = mllib_pr_auc(df), mllib_pr_auc(df, "__p_1")
    exact, exact_1 = mllib_pr_auc(df, num_bins=0), mllib_pr_auc(df, "__p_1", num_bins=0)
    # 1,000 equal-mass bins of ~40 rows: the reported area (MLlib's evaluator, 1,000 bins by default)
    # within 0.1% (measured: 1e-15 and 6e-6); MLlib's exact area within 1% (measured: 0.04% and 0.6%,
    # as close as MLlib's own 1,000-bin value)
    assert boot["binned_pr_auc"] == pytest.approx(reported, rel=1e-3)
    assert boot["binned_baseline_pr_auc"] == pytest.approx(reported_1, rel=1e-3)
    assert boot["binned_pr_auc"] == pytest.approx(exact, rel=1e-2)
    assert boot["binned_baseline_pr_auc"] == pytest.approx(exact_1, rel=1e-2)
    # and so is the difference the interval is built around
    assert boot["binned_difference"] == pytest.approx((reported - reported_1) / reported_1, abs=1e-3)


def test_bootstrap_is_reproducible_whatever_the_partitioning(spark, paired):
    df, base_edges, edges = paired
    a = paired_pr_auc_bootstrap(with_bins(df, base_edges, edges), replicates=50, seed=5)
    again = paired_pr_auc_bootstrap(with_bins(df, base_edges, edges), replicates=50, seed=5)
    shuffled = paired_scores(spark, partitions=7).repartition(5, LABEL).orderBy(F.rand(1))
    b = paired_pr_auc_bootstrap(with_bins(shuffled, base_edges, edges), replicates=50, seed=5)
    assert a == again == b
    assert a["stderr"] > 0 and a["valid_replicates"] == 50
    # the edges come from exact percentiles of a row-hash sample: the same under any partitioning. Shown
    # on 2,000 rows with 50 bins (an edge pass costs seconds at 40,000 rows and 1,000 bins), half of the
    # rows sampled (test_rows: twice EDGE_SAMPLE), so that the row-hash sample is exercised too
    small = paired_scores(spark, rows=2_000)
    small_shuffled = paired_scores(spark, rows=2_000, partitions=7).repartition(5, LABEL).orderBy(F.rand(1))
    for score in (SCORE, "__p_1"):
        sampled = edges_of(small, score, 50, 2 * EDGE_SAMPLE)
        assert edges_of(small_shuffled, score, 50, 2 * EDGE_SAMPLE) == sampled and 45 <= len(sampled) <= 49
    # with every row in the sample (test_rows at most EDGE_SAMPLE) the edges are the exact percentiles
    # (those the paired fixture computes with NumPy)
    assert edges_of(small, SCORE, 50, 2_000) == pytest.approx(exact_edges(small, 50)[1], rel=1e-12)
    other = paired_pr_auc_bootstrap(with_bins(df, base_edges, edges), replicates=50, seed=6)
    assert other["stderr"] != a["stderr"]
    # the two estimates of the standard error agree as bootstrap estimates do (50 replicates: ~10% each)
    assert other["stderr"] == pytest.approx(a["stderr"], rel=0.5)


def test_interval_narrows_like_one_over_sqrt_positives(spark, paired):
    df, base_edges, edges = paired
    full = paired_pr_auc_bootstrap(with_bins(df, base_edges, edges), replicates=100, seed=5)
    quarter_df = df.filter(F.col(ROW_ID) % 4 == 0)
    quarter = paired_pr_auc_bootstrap(with_bins(quarter_df, base_edges, edges), replicates=100, seed=5)
    # a quarter of the rows (and positives): about twice the standard error
    assert 1.4 < quarter["stderr"] / full["stderr"] < 2.8, (quarter["stderr"], full["stderr"])
    c = pr_auc_comparison(0.30, 0.32, full)
    assert c.difference == pytest.approx(-0.0625)
    assert c.low == pytest.approx(-0.0625 - 1.959964 * full["stderr"])
    assert c.high - c.low == pytest.approx(2 * c.half_width)
    assert c.to_dict() == {"difference": c.difference, "low": c.low, "high": c.high, "half_width": c.half_width,
                           **full}


def variant(pr: float, ratio: float, vs: PrAucComparison | None) -> VariantMetrics:
    """A weighted variant with only what the recommendation reads."""
    return VariantMetrics(rows=0, positives=0, base_rate=0.0, mean_prediction=0.0, calibration_ratio=ratio, ece=None,
                          log_loss=None, brier=None, pr_auc=pr, roc_auc=None, calibration_bins=(), pr_auc_vs_f1=vs,
                          train_seconds=0.0, iterations=None)


def sweep(points):
    """Sweep entries: (F, PR-AUC, calibration ratio, half width of the 95% interval of the difference)."""
    out = []
    for f, pr, ratio, half in points:
        d = (pr - points[0][1]) / points[0][1]
        vs = None if f == 1.0 else PrAucComparison(difference=d, low=d - half, high=d + half, half_width=half)
        out.append(SweepPoint(factor=f, train_rows=0, sample_bytes=0, logit_offset=0.0, classes={},
                              variants={"weighted": variant(pr, ratio, vs)}))
    return out


RULE = {"tolerance": 0.02, "calibration_tolerance": 0.10, "min_test_positives": 400}


def test_recommends_the_largest_factor_shown_within_tolerance_and_calibrated():
    s = sweep([(1.0, 0.50, 1.00, 0), (5.0, 0.498, 1.02, 0.01), (10.0, 0.496, 0.95, 0.01), (20.0, 0.47, 1.01, 0.01),
               (50.0, 0.499, 1.3, 0.01)])
    rec = recommend_factor(s, 1000, **RULE)
    assert rec.factor == 10.0 and rec.supported
    assert "F = 10 is the largest factor" in rec.reason and "with 95% confidence" in rec.reason
    assert "-0.8%, 95% interval -1.8% to +0.2%" in rec.reason
    assert "F = 20 loses more than 2% PR-AUC" in rec.reason
    checks = rec.checks
    assert checks["20"].pr_auc_status == "beyond" and checks["10"].pr_auc_status == "within"
    assert checks["50"].pr_auc_ok and not checks["50"].calibrated
    assert rec.needed_test_positives == 400  # the intervals are narrow: the calibration minimum rules


def test_a_point_estimate_inside_tolerance_is_not_enough():
    # F = 10 loses 1% by its point estimate, but its interval reaches -3%: not shown within 2%
    rec = recommend_factor(sweep([(1.0, 0.5, 1.0, 0), (5.0, 0.5, 1.0, 0.01), (10.0, 0.495, 1.0, 0.02)]), 1000, **RULE)
    assert rec.factor == 5.0
    assert rec.checks["10"].pr_auc_status == "unresolved" and rec.checks["10"].resolvable
    assert "F = 10 cannot be shown within 2% (-1.0%, 95% interval -3.0% to +1.0%)" in rec.reason


def test_intervals_wider_than_the_tolerance_cannot_support_a_recommendation():
    s = sweep([(1.0, 0.5, 1.0, 0), (10.0, 0.5, 1.0, 0.05), (20.0, 0.49, 1.0, 0.08)])
    rec = recommend_factor(s, 1000, **RULE)
    assert rec.factor is None and rec.supported is False
    # the narrowest interval (+-5%, F = 10) narrows to +-2% at 1000 * (5 / 2)^2 positives
    assert rec.needed_test_positives == 6250
    assert "the data cannot support one: with 1,000 test positives" in rec.reason
    assert "at best +-5.0% (F = 10)" in rec.reason and "about 6,250 test positives" in rec.reason
    # a tighter tolerance needs more positives: (5 / 1)^2
    tighter = recommend_factor(s, 1000, **(RULE | {"tolerance": 0.01}))
    assert tighter.supported is False and tighter.needed_test_positives == 25_000
    # a looser one resolves F = 10, which is then shown within it
    looser = recommend_factor(s, 1000, **(RULE | {"tolerance": 0.06}))
    assert looser.factor == 10.0 and looser.supported


def test_resolved_losses_recommend_f1():
    rec = recommend_factor(sweep([(1.0, 0.5, 1.0, 0), (10.0, 0.45, 1.0, 0.01)]), 1000, **RULE)
    assert rec.factor == 1.0 and rec.supported
    assert "F = 10 loses more than 2% PR-AUC (-10.0%, 95% interval -11.0% to -9.0%)" in rec.reason


def test_no_recommendation_with_too_few_test_positives():
    rec = recommend_factor(sweep([(1.0, 0.5, 1.0, 0), (10.0, 0.5, 1.0, 0.01)]), 120, **RULE)
    assert rec.factor is None and rec.supported is False
    assert "only 120 positives; at least 400 are needed" in rec.reason
    assert rec.needed_test_positives == 400
    # a tighter calibration band needs more positives: (2 / 0.05)^2
    assert positives_needed(0.05) == 1600


def test_no_recommendation_when_even_f1_is_miscalibrated():
    rec = recommend_factor(sweep([(1.0, 0.5, 1.4, 0), (10.0, 0.5, 1.4, 0.01)]), 1000, **RULE)
    assert rec.factor is None and "even F = 1 predicts 1.4x the test base rate" in rec.reason
