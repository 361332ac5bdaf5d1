"""A paired Poisson bootstrap of PR-AUC differences over equal-mass score bins.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pyspark.ml.feature import Bucketizer
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from imbalance_spark.common.hashing import hash_to_uniform
from imbalance_spark.evaluate.metrics import LABEL, Z95, _finite
from imbalance_spark.evaluate.report import BootstrapResult, PrAucComparison
from imbalance_spark.evaluate.split import ROW_ID

# The paired bootstrap: a row id (from the row's content or key), the F = 1 model's score bin beside
# the scored model's bin, the replicate weights.


BASELINE_BIN = "__bin_1"


SCORE_BIN = "__bin_f"


# Poisson(1)'s cumulative probabilities: a uniform u draws k = how many of them are <= u.
_POISSON1_CDF = [sum(math.exp(-1.0) / math.factorial(j) for j in range(k + 1)) for k in range(12)]



def replicate_weight(seed: int, replicate: Column) -> Column:
    """The row's Poisson(1) weight in ``replicate``, from a hash of (seed, ``__row_id``, replicate).

    The Poisson bootstrap counts every row 0, 1, 2, ... times per replicate, as resampling with
    replacement does, but row by row: the draws do not depend on the partitioning or the row order.
    """
    u = hash_to_uniform(F.lit(seed), F.col(ROW_ID), replicate)
    k = F.lit(0)
    for c in _POISSON1_CDF:
        k = k + (u >= F.lit(c)).cast("int")
    return k


def with_score_bin(df: DataFrame, input_col: str, edges: list[float], output_col: str) -> DataFrame:
    """The score's bin among the sorted ``edges`` (MLlib ``Bucketizer``: bin i holds edge[i-1] <= score < edge[i])."""
    splits = [-math.inf, *edges, math.inf]
    if len(splits) < 3:  # a constant score: one bin
        splits = [-math.inf, 0.0, math.inf]
    return Bucketizer(splits=splits, inputCol=input_col, outputCol=output_col).transform(df)


def binned_replicate_counts(pred_df: DataFrame, replicates: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted positives and negatives per score bin, per model (0: F = 1, 1: the scored F), per replicate.

    One Spark aggregation over ``pred_df`` (``__row_id``, ``__y``, ``__bin_1``, ``__bin_f``): every row
    is drawn once per replicate (replicate 0 is the sample itself: weight 1) and counted under each
    model's bin with the same weight (paired). Only the table of sums, one row per (model, bin,
    label) with a column per replicate, reaches the driver. Returns (positives, negatives), each of
    shape (2, replicates + 1, bins), bins from the highest score down.
    """
    b = F.col("__b")
    weight = F.when(b == 0, F.lit(1)).otherwise(replicate_weight(seed, b))
    by_model = F.array(
        F.struct(F.lit(0).alias("m"), F.col(BASELINE_BIN).cast("int").alias("bin")),
        F.struct(F.lit(1).alias("m"), F.col(SCORE_BIN).cast("int").alias("bin")),
    )
    drawn_df = (
        pred_df.select(
            ROW_ID, LABEL, BASELINE_BIN, SCORE_BIN, F.explode(F.sequence(F.lit(0), F.lit(replicates))).alias("__b")
        )
        .select(LABEL, BASELINE_BIN, SCORE_BIN, "__b", weight.alias("__w"))
        .filter(F.col("__w") > 0)  # a third of the draws are 0
        .select(LABEL, "__b", "__w", F.explode(by_model).alias("s"))
        .select(LABEL, "__b", "__w", "s.m", "s.bin")
    )
    rows = (
        drawn_df.groupBy("m", "bin", LABEL)
        .pivot("__b", list(range(replicates + 1)))
        .agg(F.sum("__w"))
        .collect()
    )
    bins = max((int(r["bin"]) for r in rows), default=0) + 1
    positives = np.zeros((2, replicates + 1, bins))
    negatives = np.zeros((2, replicates + 1, bins))
    for r in rows:
        values = list(r)
        target = positives if values[2] == 1.0 else negatives
        # integer weights: the sums are exact whatever the order Spark adds them in
        target[int(values[0]), :, int(values[1])] = [float(v or 0) for v in values[3:]]
    return positives[..., ::-1], negatives[..., ::-1]


def pr_auc_from_bins(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """Area under the precision-recall curve through the bins' thresholds, as MLlib's ``areaUnderPR`` does it.

    The last axis runs over bins from the highest score down; the curve's points are (recall,
    precision) after each bin, preceded by (0, the first point's precision), joined by straight lines.
    NaN where there is no positive.
    """
    tp = np.cumsum(positives, axis=-1)
    predicted = tp + np.cumsum(negatives, axis=-1)
    total = tp[..., -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = tp / total
        precision = tp / predicted
    # leading empty bins (nothing predicted yet) sit at recall 0 with the first real point's precision
    first = np.take_along_axis(precision, np.argmax(predicted > 0, axis=-1)[..., None], axis=-1)
    precision = np.where(predicted > 0, precision, first)
    recall = np.concatenate([np.zeros_like(total), recall], axis=-1)
    precision = np.concatenate([first, precision], axis=-1)
    with np.errstate(invalid="ignore"):
        area = np.sum(np.diff(recall, axis=-1) * (precision[..., 1:] + precision[..., :-1]) / 2.0, axis=-1)
    return np.where(total[..., 0] > 0, area, np.nan)


def paired_pr_auc_bootstrap(pred_df: DataFrame, replicates: int, seed: int) -> dict[str, Any]:
    """The relative PR-AUC difference of the scored model to F = 1 on the same rows, and its bootstrap error.

    ``pred_df`` holds both models' score bins per test row (see :func:`binned_replicate_counts`); the
    difference is (PR-AUC_F - PR-AUC_1) / PR-AUC_1 per replicate, from the binned curves.
    """
    positives, negatives = binned_replicate_counts(pred_df, replicates, seed)
    area = pr_auc_from_bins(positives, negatives)  # (model, replicate)
    with np.errstate(invalid="ignore", divide="ignore"):
        difference = (area[1] - area[0]) / area[0]
    draws = difference[1:]
    valid = draws[np.isfinite(draws)]
    stderr = float(np.std(valid, ddof=1)) if valid.size > 1 else math.nan
    return {
        "binned_pr_auc": _finite(area[1, 0]),
        "binned_baseline_pr_auc": _finite(area[0, 0]),
        "binned_difference": _finite(difference[0]),
        "stderr": _finite(stderr),
        "replicates": replicates,
        "valid_replicates": int(valid.size),
        "score_bins": int(positives.shape[-1]),
    }


def pr_auc_comparison(pr_auc: float, baseline_pr_auc: float, bootstrap: dict[str, Any]) -> PrAucComparison:
    """The reported comparison: MLlib's relative difference, +- 1.96 bootstrap standard errors (95%).

    Without a standard error (fewer than two replicates with positives) the interval is None.
    """
    difference = (pr_auc - baseline_pr_auc) / baseline_pr_auc
    half_width = Z95 * bootstrap["stderr"] if bootstrap["stderr"] is not None else None
    return PrAucComparison(
        difference=difference,
        low=difference - half_width if half_width is not None else None,
        high=difference + half_width if half_width is not None else None,
        half_width=half_width,
        bootstrap=BootstrapResult(**bootstrap),
    )


# F = 1 against itself: the same model on the same rows.
SAME_MODEL = PrAucComparison(difference=0.0, low=0.0, high=0.0, half_width=0.0)
