"""Prediction metrics aggregated by Spark: PR-AUC, ROC-AUC, calibration, log loss, normalized entropy,
Brier, and calibration per day and segment."""

from __future__ import annotations

import math
from typing import Any

from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from imbalance_spark.evaluate.calibration import group_calibration
from imbalance_spark.evaluate.split import row_uniform

LABEL = "__y"


SCORE = "__p"


# 95% normal interval: point +- Z * bootstrap standard error.
Z95 = 1.959963984540054


# The score bins' edges are exact percentiles of a row-hash sample of about this many test rows.
EDGE_SAMPLE = 50_000


EDGE_SEED = 7_919


_EPS = 1e-15


def prediction_metrics(
    pred_df: DataFrame, bins: int = 10, score_bins: int | None = None, test_rows: int | None = None
) -> dict[str, Any]:
    """Base rate, mean prediction, ECE (equal-mass bins), log loss, normalized entropy, Brier, PR-AUC, ROC-AUC.

    With day or segment columns (:func:`~imbalance_spark.evaluate.calibration.with_calibration_groups`),
    also ``calibration_by_day`` and ``calibration_by_segment``, from one more aggregation.

    ``pred_df`` has the 0/1 label ``__y`` and the predicted probability ``__p`` (doubles). With
    ``score_bins`` (and ``__row_id``), the same pass also returns ``score_edges``, for the caller to
    pop: the score's edges of ``score_bins`` about equal-mass bins for :func:`with_score_bin`.
    """
    y, p = F.col(LABEL), F.col(SCORE)
    clipped = F.least(F.greatest(p, F.lit(_EPS)), F.lit(1.0 - _EPS))
    quantiles = [i / bins for i in range(1, bins)]
    fine = []
    if score_bins:
        # Exact percentiles of a row-hash sample of at most EDGE_SAMPLE rows: unlike percentile_approx's
        # sketch, the edges do not depend on the partitioning, and neither do the bootstrap's bins.
        share = min(1.0, EDGE_SAMPLE / test_rows) if test_rows else 1.0
        sampled = F.when(row_uniform(EDGE_SEED, -1) < F.lit(share), p)
        fine = [F.percentile(sampled, [i / score_bins for i in range(1, score_bins)]).alias("score_edges")]
    row = pred_df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(y).alias("positives"),
        F.avg(p).alias("mean_prediction"),
        F.avg(-(y * F.log(clipped) + (F.lit(1.0) - y) * F.log(F.lit(1.0) - clipped))).alias("log_loss"),
        F.avg((p - y) * (p - y)).alias("brier"),
        F.percentile_approx(p, quantiles, 10_000).alias("edges"),
        *fine,
    ).first()
    rows = int(row["rows"])
    positives = int(row["positives"] or 0)
    base_rate = positives / rows if rows else float("nan")
    mean_prediction = float(row["mean_prediction"]) if rows else float("nan")
    calibration = calibration_bins(pred_df, sorted(set(float(e) for e in (row["edges"] or []))))
    ece = sum(b["rows"] / rows * abs(b["mean_prediction"] - b["observed_rate"]) for b in calibration) if rows else None
    both_classes = 0 < positives < rows
    extra = {"score_edges": sorted(set(float(e) for e in (row["score_edges"] or [])))} if score_bins else {}
    extra |= group_calibration(pred_df, LABEL, SCORE)
    log_loss = float(row["log_loss"]) if rows else None
    return extra | {
        "rows": rows,
        "positives": positives,
        "base_rate": base_rate,
        "mean_prediction": mean_prediction,
        "calibration_ratio": mean_prediction / base_rate if base_rate else None,
        "ece": ece,
        "log_loss": log_loss,
        "normalized_entropy": normalized_entropy(log_loss, base_rate),
        "brier": float(row["brier"]) if rows else None,
        "pr_auc": _area(pred_df, "areaUnderPR") if both_classes else None,
        "roc_auc": _area(pred_df, "areaUnderROC") if both_classes else None,
        "calibration_bins": calibration,
    }


def base_rate_entropy(base_rate: float) -> float | None:
    """The log loss (nats) of always predicting ``base_rate``: the entropy of a Bernoulli(base rate)."""
    if not 0.0 < base_rate < 1.0:
        return None
    return -(base_rate * math.log(base_rate) + (1.0 - base_rate) * math.log(1.0 - base_rate))


def normalized_entropy(log_loss: float | None, base_rate: float) -> float | None:
    """Log loss over the entropy of the base rate (He et al. 2014): below 1 the model beats the base rate."""
    entropy = base_rate_entropy(base_rate)
    return log_loss / entropy if log_loss is not None and entropy else None


def calibration_bins(pred_df: DataFrame, edges: list[float]) -> list[dict[str, Any]]:
    """Rows, mean prediction and observed rate per equal-mass bin between the sorted ``edges``.

    Edges are prediction quantiles (ties merge bins rather than leave them empty); a bin holds the
    predictions up to and including its upper edge (a quantile is a value of the data).
    """
    y, p = F.col(LABEL), F.col(SCORE)
    bin_index = F.lit(0)
    for edge in edges:
        bin_index = bin_index + (p > F.lit(edge)).cast("int")
    rows = (
        pred_df.select(LABEL, SCORE, bin_index.alias("__bin"))
        .groupBy("__bin")
        .agg(F.count(F.lit(1)).alias("rows"), F.avg(p).alias("mean_prediction"), F.avg(y).alias("observed_rate"))
        .orderBy("__bin")
        .collect()
    )
    return [
        {"rows": int(r["rows"]), "mean_prediction": float(r["mean_prediction"]),
         "observed_rate": float(r["observed_rate"])}
        for r in rows
    ]


def _area(pred_df: DataFrame, metric: str) -> float:
    # MLlib's evaluator takes a probability column as the score; areaUnderPR is the trapezoidal area
    # under the precision-recall curve (close to average precision).
    evaluator = BinaryClassificationEvaluator(rawPredictionCol=SCORE, labelCol=LABEL, metricName=metric)
    return float(evaluator.evaluate(pred_df))


def _finite(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
