"""Metrics of a binary model on the untouched test slice, and the rule that recommends a factor.

Metrics are Spark aggregations over the predictions (nothing but aggregates reaches the driver);
the recommendation is plain Python over the metrics.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import Bucketizer
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

LABEL = "__y"
SCORE = "__p"
# The paired bootstrap: a row id (from the row's content or key), the F = 1 model's score bin beside
# the scored model's bin, the replicate weights.
ROW_ID = "__row_id"
BASELINE_BIN = "__bin_1"
SCORE_BIN = "__bin_f"
# 95% normal interval: point +- Z * bootstrap standard error.
Z95 = 1.959963984540054
# The score bins' edges are exact percentiles of a row-hash sample of about this many test rows.
EDGE_SAMPLE = 50_000
EDGE_SEED = 7_919
_EPS = 1e-15
# The base rate is known within +-5% (one standard error ~ 1/sqrt(positives)) from this many positives,
# half of the 10% calibration band: fewer and the calibration check reads noise.
CALIBRATION_POSITIVES = 400


def prediction_metrics(
    pred_df: DataFrame, bins: int = 10, score_bins: int | None = None, test_rows: int | None = None
) -> dict[str, Any]:
    """Base rate, mean prediction, ECE (equal-mass bins), log loss, Brier, PR-AUC and ROC-AUC.

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
    # Equal-mass bins: edges at the prediction quantiles (ties merge bins rather than leave them empty).
    # A bin holds the predictions up to and including its upper edge (a quantile is a value of the data).
    edges = sorted(set(float(e) for e in (row["edges"] or [])))
    bin_index = F.lit(0)
    for edge in edges:
        bin_index = bin_index + (p > F.lit(edge)).cast("int")
    calibration = [
        {
            "rows": int(r["rows"]),
            "mean_prediction": float(r["mean_prediction"]),
            "observed_rate": float(r["observed_rate"]),
        }
        for r in pred_df.select(LABEL, SCORE, bin_index.alias("__bin"))
        .groupBy("__bin")
        .agg(F.count(F.lit(1)).alias("rows"), F.avg(p).alias("mean_prediction"), F.avg(y).alias("observed_rate"))
        .orderBy("__bin")
        .collect()
    ]
    ece = sum(b["rows"] / rows * abs(b["mean_prediction"] - b["observed_rate"]) for b in calibration) if rows else None
    both_classes = 0 < positives < rows
    extra = {"score_edges": sorted(set(float(e) for e in (row["score_edges"] or [])))} if score_bins else {}
    return extra | {
        "rows": rows,
        "positives": positives,
        "base_rate": base_rate,
        "mean_prediction": mean_prediction,
        "calibration_ratio": mean_prediction / base_rate if base_rate else None,
        "ece": ece,
        "log_loss": float(row["log_loss"]) if rows else None,
        "brier": float(row["brier"]) if rows else None,
        "pr_auc": _area(pred_df, "areaUnderPR") if both_classes else None,
        "roc_auc": _area(pred_df, "areaUnderROC") if both_classes else None,
        "calibration_bins": calibration,
    }


def _area(pred_df: DataFrame, metric: str) -> float:
    # MLlib's evaluator takes a probability column as the score; areaUnderPR is the trapezoidal area
    # under the precision-recall curve (close to average precision).
    evaluator = BinaryClassificationEvaluator(rawPredictionCol=SCORE, labelCol=LABEL, metricName=metric)
    return float(evaluator.evaluate(pred_df))


# --- the paired bootstrap of the PR-AUC difference --------------------------------------------------

# Poisson(1)'s cumulative probabilities: a uniform u draws k = how many of them are <= u.
_POISSON1_CDF = [sum(math.exp(-1.0) / math.factorial(j) for j in range(k + 1)) for k in range(12)]
_2_53 = float(2**53)


def row_uniform(seed: int, stream: int) -> Column:
    """A uniform in [0, 1) from a hash of (seed, ``__row_id``, stream): the same for the same row anywhere."""
    h = F.xxhash64(F.lit(seed), F.col(ROW_ID), F.lit(stream))
    return F.shiftrightunsigned(h, 11).cast("double") / F.lit(_2_53)


def replicate_weight(seed: int, replicate: Column) -> Column:
    """The row's Poisson(1) weight in ``replicate``, from a hash of (seed, ``__row_id``, replicate).

    The Poisson bootstrap counts every row 0, 1, 2, ... times per replicate, as resampling with
    replacement does, but row by row: the draws do not depend on the partitioning or the row order.
    """
    u = F.shiftrightunsigned(F.xxhash64(F.lit(seed), F.col(ROW_ID), replicate), 11).cast("double") / F.lit(_2_53)
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


def _finite(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def pr_auc_comparison(pr_auc: float, baseline_pr_auc: float, bootstrap: dict[str, Any]) -> dict[str, Any]:
    """The reported comparison: MLlib's relative difference, +- 1.96 bootstrap standard errors (95%).

    Without a standard error (fewer than two replicates with positives) the interval is None.
    """
    difference = (pr_auc - baseline_pr_auc) / baseline_pr_auc
    half_width = Z95 * bootstrap["stderr"] if bootstrap["stderr"] is not None else None
    return {
        "difference": difference,
        "low": difference - half_width if half_width is not None else None,
        "high": difference + half_width if half_width is not None else None,
        "half_width": half_width,
        **bootstrap,
    }


# F = 1 against itself: the same model on the same rows.
SAME_MODEL = {"difference": 0.0, "low": 0.0, "high": 0.0, "half_width": 0.0}


# --- the recommendation ---------------------------------------------------------------------------


def positives_needed(calibration_tolerance: float, minimum: int = CALIBRATION_POSITIVES) -> int:
    """Test positives needed so the base rate is known within half the calibration band (one s.e.)."""
    # relative s.e. of a rate from n positives ~ 1/sqrt(n); ask for <= tolerance / 2
    return max(minimum, math.ceil((2.0 / calibration_tolerance) ** 2))


def positives_to_resolve(test_positives: int, half_width: float, tolerance: float) -> int | None:
    """Test positives at which an interval of ``half_width`` (from ``test_positives``) narrows to +-tolerance.

    The bootstrap interval's width shrinks like 1/sqrt(positives).
    """
    if not math.isfinite(half_width):
        return None
    # rounded first: 1000 * (0.05 / 0.02)^2 is 6250, not 6251
    return math.ceil(round(test_positives * (half_width / tolerance) ** 2, 6))


def pr_auc_status(comparison: dict[str, Any] | None, tolerance: float) -> str:
    """``within`` (the whole interval is above -tolerance), ``beyond`` (all of it below) or ``unresolved``."""
    if comparison is None or comparison.get("half_width") is None:
        return "unresolved"
    if comparison["low"] >= -tolerance:
        return "within"
    if comparison["high"] < -tolerance:
        return "beyond"
    return "unresolved"


def _pct(x: float) -> str:
    return f"{x:+.1%}"


def _interval(c: dict[str, Any]) -> str:
    return f"{_pct(c['difference'])}, 95% interval {_pct(c['low'])} to {_pct(c['high'])}"


def recommend_factor(
    sweep: list[dict[str, Any]],
    test_positives: int,
    *,
    tolerance: float,
    calibration_tolerance: float,
    min_test_positives: int,
    variant: str = "weighted",
) -> dict[str, Any]:
    """The largest F whose ``variant`` keeps PR-AUC within ``tolerance`` of F = 1 and stays calibrated.

    "Within" is with 95% confidence: the lower end of the interval of the relative PR-AUC difference
    to F = 1 (``variants[variant]["pr_auc_vs_f1"]``) is at least -tolerance. When no larger F passes
    and every larger F's interval is wider than +-tolerance, the data cannot support a
    recommendation: ``factor`` is None, ``supported`` False, and ``needed_test_positives`` estimates
    how many test positives would narrow the best interval to +-tolerance.

    Returns ``{"factor", "supported", "reason", "needed_test_positives", "checks": {F: {...}}}``;
    plain Python over the sweep.
    """
    needed = max(min_test_positives, positives_needed(calibration_tolerance, 0))
    by_factor = {float(s["factor"]): s["variants"][variant] for s in sweep}
    if test_positives < needed:
        return {
            "factor": None,
            "supported": False,
            "reason": (
                f"the test slice has only {test_positives:,} positives; at least {needed:,} are needed before"
                f" PR-AUC differences of {tolerance:.0%} and a {calibration_tolerance:.0%} calibration band mean"
                " anything (hold out more rows: an earlier split.test_from or a larger split.test_fraction)"
            ),
            "needed_test_positives": needed,
            "checks": {},
        }
    if 1.0 not in by_factor or by_factor[1.0].get("pr_auc") is None:
        return {"factor": None, "supported": False, "reason": "the sweep has no F = 1 baseline to compare with",
                "needed_test_positives": needed, "checks": {}}
    baseline = by_factor[1.0]["pr_auc"]
    checks: dict[str, dict[str, Any]] = {}
    for f in sorted(by_factor):
        m = by_factor[f]
        c = SAME_MODEL if f == 1.0 else m.get("pr_auc_vs_f1")
        status = pr_auc_status(c, tolerance)
        half_width = c["half_width"] if c and c.get("half_width") is not None else math.nan
        ratio = m.get("calibration_ratio")
        checks[_fkey(f)] = {
            "pr_auc_difference": c["difference"] if c else None,
            "pr_auc_low": c["low"] if c else None,
            "pr_auc_high": c["high"] if c else None,
            "pr_auc_half_width": _finite(half_width),
            "pr_auc_status": status,
            "pr_auc_ok": status == "within",
            "resolvable": math.isfinite(half_width) and half_width <= tolerance,
            "positives_to_resolve": positives_to_resolve(test_positives, half_width, tolerance) if f != 1.0 else None,
            "calibration_ratio": ratio,
            "calibrated": ratio is not None and abs(ratio - 1.0) <= calibration_tolerance,
        }
    larger = [f for f in sorted(by_factor) if f > 1.0]
    widths = [(checks[_fkey(f)]["pr_auc_half_width"], f) for f in larger
              if checks[_fkey(f)]["pr_auc_half_width"] is not None
              and math.isfinite(checks[_fkey(f)]["pr_auc_half_width"])]
    narrowest = min(widths) if widths else None
    if narrowest is not None:
        pr_needed = positives_to_resolve(test_positives, narrowest[0], tolerance) or 0
        needed = max(needed, pr_needed)
    passing = [f for f in sorted(by_factor) if checks[_fkey(f)]["pr_auc_ok"] and checks[_fkey(f)]["calibrated"]]
    base_check = checks[_fkey(1.0)]
    if not base_check["calibrated"]:
        reason = (
            f"no factor passes: even F = 1 predicts {base_check['calibration_ratio']:.3g}x the test base rate"
            f" (allowed: within {calibration_tolerance:.0%}); the test slice differs from the train slice"
            " (drift between the days?) or the features miss what drives the label"
        )
        return {"factor": None, "supported": True, "reason": reason, "needed_test_positives": needed,
                "checks": checks}
    best = passing[-1]
    if best == 1.0 and larger and not any(checks[_fkey(f)]["resolvable"] for f in larger):
        if narrowest is None:
            width = "has no bootstrap interval"
        else:
            width = (f"is at best +-{narrowest[0]:.1%} (F = {narrowest[1]:g}), wider than the {tolerance:.0%}"
                     " tolerance, so no F can be shown to keep PR-AUC within it")
        reason = (
            f"the data cannot support one: with {test_positives:,} test positives the 95% interval"
            f" of the {variant} model's PR-AUC difference to F = 1 {width}; about {needed:,} test positives"
            f" would narrow it to +-{tolerance:.0%} (it narrows like 1/sqrt(positives)): hold out more rows"
            " (an earlier split.test_from or a larger split.test_fraction) or accept a larger evaluate.tolerance"
        )
        return {"factor": None, "supported": False, "reason": reason, "needed_test_positives": needed,
                "checks": checks}
    c = checks[_fkey(best)]
    if best == 1.0:
        reason = (
            f"F = 1: no larger factor's {variant} model is shown to keep PR-AUC within {tolerance:.0%} of F = 1"
            f" with 95% confidence and mean prediction within {calibration_tolerance:.0%} of the base rate"
        )
    else:
        reason = (
            f"F = {best:g} is the largest factor whose {variant} model keeps PR-AUC within {tolerance:.0%} of"
            f" F = 1 with 95% confidence ({by_factor[best]['pr_auc']:.4f} vs {baseline:.4f}:"
            f" {_interval(_check_interval(c))},"
            f" above {-tolerance:.0%}) and mean prediction within {calibration_tolerance:.0%} of the base rate"
            f" ({c['calibration_ratio']:.3f}x)"
        )
    bigger = [f for f in larger if f > best]
    if bigger:
        nxt, n = bigger[0], checks[_fkey(bigger[0])]
        why = []
        if n["pr_auc_difference"] is None or n["pr_auc_half_width"] is None:
            why.append("has no PR-AUC interval")
        elif n["pr_auc_status"] == "beyond":
            why.append(f"loses more than {tolerance:.0%} PR-AUC ({_interval(_check_interval(n))})")
        elif n["pr_auc_status"] == "unresolved":
            more = (f"; ~{n['positives_to_resolve']:,} test positives would narrow it to +-{tolerance:.0%}"
                    if not n["resolvable"] and n["positives_to_resolve"] else "")
            why.append(f"cannot be shown within {tolerance:.0%} ({_interval(_check_interval(n))}{more})")
        if not n["calibrated"]:
            why.append(f"predicts {n['calibration_ratio']:.3g}x the base rate")
        reason += f"; F = {nxt:g} {' and '.join(why)}"
    return {"factor": best, "supported": True, "reason": reason, "needed_test_positives": needed, "checks": checks}


def _check_interval(check: dict[str, Any]) -> dict[str, Any]:
    return {"difference": check["pr_auc_difference"], "low": check["pr_auc_low"], "high": check["pr_auc_high"]}


def _fkey(f: float) -> str:
    return f"{f:g}"
