"""A paired Poisson bootstrap of PR-AUC differences over equal-mass score bins.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pyspark.ml.feature import Bucketizer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from imbalance_spark.evaluate.metrics import LABEL, Z95, _finite
from imbalance_spark.evaluate.report import BootstrapResult, PrAucComparison
from imbalance_spark.evaluate.split import ROW_ID  # noqa: F401  (the test rows' id, imported from here)

# The paired bootstrap: the F = 1 model's score bin beside the scored model's bin, per test row.


BASELINE_BIN = "__bin_1"


SCORE_BIN = "__bin_f"


def with_score_bin(df: DataFrame, input_col: str, edges: list[float], output_col: str) -> DataFrame:
    """The score's bin among the sorted ``edges`` (MLlib ``Bucketizer``: bin i holds edge[i-1] <= score < edge[i])."""
    splits = [-math.inf, *edges, math.inf]
    if len(splits) < 3:  # a constant score: one bin
        splits = [-math.inf, 0.0, math.inf]
    return Bucketizer(splits=splits, inputCol=input_col, outputCol=output_col).transform(df)


def binned_replicate_counts(pred_df: DataFrame, replicates: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted positives and negatives per score bin, per model (0: F = 1, 1: the scored F), per replicate.

    One Spark aggregation over ``pred_df`` (``__y``, ``__bin_1``, ``__bin_f``) counts the rows of each
    cell (F = 1's bin, the scored F's bin, label); only that table reaches the driver. The Poisson
    bootstrap draws every row Poisson(1) times per replicate, so a cell of n rows is drawn
    Poisson(n) times, and its rows count under both models' bins with the same draw (paired).
    Replicate 0 is the sample itself. The draws come from ``seed`` and the cells in sorted order:
    the same whatever the partitioning. Returns (positives, negatives), each of shape
    (2, replicates + 1, bins), bins from the highest score down.
    """
    return replicate_counts(_cells(pred_df), replicates, seed)


def replicate_counts(cells: np.ndarray, replicates: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The bootstrap's counts from the cells (F = 1's bin, the scored F's bin, label, rows), sorted.

    Plain NumPy: :func:`binned_replicate_counts`' shapes, bins from the highest score down.
    """
    bins = int(cells[:, :2].max()) + 1 if cells.size else 1
    rng = np.random.default_rng(seed)
    positives = np.zeros((2, replicates + 1, bins))
    negatives = np.zeros((2, replicates + 1, bins))
    is_positive = cells[:, 2] == 1
    for r in range(replicates + 1):
        # one replicate at a time: memory stays one draw per cell
        drawn = cells[:, 3] if r == 0 else rng.poisson(cells[:, 3])
        for model in (0, 1):
            for target, rows in ((positives, is_positive), (negatives, ~is_positive)):
                target[model, r] = np.bincount(cells[rows, model], weights=drawn[rows], minlength=bins)
    return positives[..., ::-1], negatives[..., ::-1]


def _cells(pred_df: DataFrame) -> np.ndarray:
    """(F = 1's bin, the scored F's bin, label, rows) per occupied cell, sorted: one aggregation."""
    rows = (
        pred_df.groupBy(F.col(BASELINE_BIN).cast("int").alias("b1"), F.col(SCORE_BIN).cast("int").alias("bf"),
                        F.col(LABEL).cast("int").alias("y"))
        .agg(F.count(F.lit(1)).alias("n"))
        .collect()
    )
    return np.array(sorted((r["b1"], r["bf"], r["y"], r["n"]) for r in rows), dtype=np.int64).reshape(-1, 4)


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
