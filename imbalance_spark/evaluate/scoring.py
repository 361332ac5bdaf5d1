"""One scoring pass per model: every test metric from one aggregated score histogram.

The scores are binned on a fixed grid of their logit (``GRID_PER_LOGIT`` bins per unit), so the
bins need no pass of their own; one ``groupBy`` collects rows, positives and the sums of the score,
the log loss and the Brier terms per bin. PR-AUC and ROC-AUC are the trapezoidal areas through the
bins' thresholds (as MLlib's ``BinaryClassificationMetrics``, which itself bins to 1,000 points by
default), the calibration bins merge grid bins into equal-mass bins, and the bootstrap's equal-mass
score edges are read from the same histogram. Only the histogram (a few thousand rows at most)
reaches the driver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from imbalance_spark.evaluate.bootstrap import pr_auc_from_bins
from imbalance_spark.evaluate.metrics import LABEL, SCORE, normalized_entropy

# Bins per unit of logit: a bin spans 0.1% in the odds, so rows that share a bin differ in score by
# at most that; the areas count such rows as tied (half a pair), as MLlib does for equal scores.
# Fine enough for a weak model's narrow score range (on the demo, 200 bins per unit left only ~360
# of the bootstrap's 1,000 equal-mass bins distinct); at most ~69,000 bins over the whole clipped
# range, one histogram row each.
GRID_PER_LOGIT = 1000


_EPS = 1e-15


@dataclass(frozen=True)
class ScoreHistogram:
    """Per grid bin (ascending score): rows, positives and the sums of p, log loss and Brier terms."""

    grid_bin: np.ndarray  # int: floor(logit(p) * GRID_PER_LOGIT)
    rows: np.ndarray
    positives: np.ndarray
    sum_p: np.ndarray
    sum_log_loss: np.ndarray
    sum_brier: np.ndarray

    @property
    def upper_edges(self) -> np.ndarray:
        """Each bin's upper score edge (a probability): the bin holds the scores below it."""
        return 1.0 / (1.0 + np.exp(-(self.grid_bin + 1) / GRID_PER_LOGIT))


def grid_bin(p) -> Any:
    """The score's bin on the logit grid (a Spark column of ints)."""
    clipped = F.least(F.greatest(p, F.lit(_EPS)), F.lit(1.0 - _EPS))
    return F.floor(F.log(clipped / (F.lit(1.0) - clipped)) * F.lit(float(GRID_PER_LOGIT))).cast("int")


def score_histograms(pred_df: DataFrame, scores: dict[str, str]) -> dict[str, ScoreHistogram]:
    """One aggregation over ``pred_df`` (``__y`` and the score columns): a histogram per named score."""
    y = F.col(LABEL)
    parts = [F.struct(F.lit(name).alias("v"), F.col(col).alias("p")) for name, col in scores.items()]
    long_df = pred_df.select(y, F.explode(F.array(*parts)).alias("s")).select(y, "s.v", "s.p")
    p = F.col("p")
    clipped = F.least(F.greatest(p, F.lit(_EPS)), F.lit(1.0 - _EPS))
    rows = (
        long_df.groupBy("v", grid_bin(p).alias("b"))
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum(y).alias("pos"),
            F.sum(p).alias("sp"),
            F.sum(-(y * F.log(clipped) + (F.lit(1.0) - y) * F.log(F.lit(1.0) - clipped))).alias("sl"),
            F.sum((p - y) * (p - y)).alias("sb"),
        )
        .collect()
    )
    return {name: _histogram([r for r in rows if r["v"] == name]) for name in scores}


def score_histogram(pred_df: DataFrame) -> ScoreHistogram:
    """The histogram of ``__p`` over ``pred_df``: one aggregation."""
    return score_histograms(pred_df, {SCORE: SCORE})[SCORE]


def _histogram(rows: list) -> ScoreHistogram:
    rows = sorted(rows, key=lambda r: r["b"])
    col = lambda k, t=float: np.array([t(r[k] or 0) for r in rows], dtype=t)  # noqa: E731
    return ScoreHistogram(col("b", int), col("n", int), col("pos", int), col("sp"), col("sl"), col("sb"))


def histogram_metrics(h: ScoreHistogram, bins: int = 10, score_bins: int | None = None) -> dict[str, Any]:
    """:func:`~imbalance_spark.evaluate.metrics.prediction_metrics`' numbers, from the histogram alone.

    With ``score_bins``, also ``score_edges`` (for the caller to pop): about equal-mass edges for the
    bootstrap's :func:`~imbalance_spark.evaluate.bootstrap.with_score_bin`, at grid bin edges.
    """
    rows, positives = int(h.rows.sum()), int(h.positives.sum())
    base_rate = positives / rows if rows else float("nan")
    mean_prediction = float(h.sum_p.sum()) / rows if rows else float("nan")
    calibration = calibration_from_histogram(h, bins)
    ece = sum(b["rows"] / rows * abs(b["mean_prediction"] - b["observed_rate"]) for b in calibration) if rows else None
    both_classes = 0 < positives < rows
    extra = {"score_edges": equal_mass_edges(h, score_bins)} if score_bins else {}
    return extra | {
        "rows": rows,
        "positives": positives,
        "base_rate": base_rate,
        "mean_prediction": mean_prediction,
        "calibration_ratio": mean_prediction / base_rate if base_rate else None,
        "ece": ece,
        "log_loss": float(h.sum_log_loss.sum()) / rows if rows else None,
        "normalized_entropy": normalized_entropy(float(h.sum_log_loss.sum()) / rows if rows else None, base_rate),
        "brier": float(h.sum_brier.sum()) / rows if rows else None,
        "pr_auc": _float(pr_auc_from_bins(*_descending(h))) if both_classes else None,
        "roc_auc": roc_auc_from_bins(*_descending(h)) if both_classes else None,
        "calibration_bins": calibration,
    }


def _descending(h: ScoreHistogram) -> tuple[np.ndarray, np.ndarray]:
    """Positives and negatives per bin, from the highest score down (as the curves walk the thresholds)."""
    pos = h.positives.astype(float)
    return pos[::-1], (h.rows - h.positives).astype(float)[::-1]


def roc_auc_from_bins(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Area under the ROC curve through the bins' thresholds (bins from the highest score down)."""
    tpr = np.concatenate([[0.0], np.cumsum(positives)]) / positives.sum()
    fpr = np.concatenate([[0.0], np.cumsum(negatives)]) / negatives.sum()
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def _cut_points(h: ScoreHistogram, parts: int) -> list[int]:
    """Indices of the last grid bin of each of ``parts`` about equal-mass groups (ties merge groups)."""
    cumulative = np.cumsum(h.rows)
    total = cumulative[-1] if cumulative.size else 0
    cuts = {int(np.searchsorted(cumulative, total * k / parts, side="left")) for k in range(1, parts)}
    return sorted(c for c in cuts if c < len(h.rows) - 1)


def calibration_from_histogram(h: ScoreHistogram, bins: int) -> list[dict[str, Any]]:
    """Rows, mean prediction and observed rate per about equal-mass bin (grid bins merged)."""
    starts = [0, *(c + 1 for c in _cut_points(h, bins))]
    ends = [*starts[1:], len(h.rows)]
    out = []
    for a, b in zip(starts, ends, strict=True):
        n = int(h.rows[a:b].sum())
        if n:
            out.append({"rows": n, "mean_prediction": float(h.sum_p[a:b].sum()) / n,
                        "observed_rate": float(h.positives[a:b].sum()) / n})
    return out


def equal_mass_edges(h: ScoreHistogram, parts: int) -> list[float]:
    """About equal-mass score edges (probabilities) at grid bin edges, for ``parts`` bins."""
    edges = h.upper_edges
    return sorted({float(edges[c]) for c in _cut_points(h, parts)})


def _float(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
