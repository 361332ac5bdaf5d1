"""Metrics of a binary model on the untouched test slice, and the rule that recommends a factor.

Metrics are Spark aggregations over the predictions (nothing but aggregates reaches the driver);
the recommendation is plain Python over the metrics.
"""

from __future__ import annotations

import math
from typing import Any

from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

LABEL = "__y"
SCORE = "__p"
_EPS = 1e-15
# The base rate is known within +-5% (one standard error ~ 1/sqrt(positives)) from this many positives,
# half of the 10% calibration band: fewer and the calibration check reads noise.
CALIBRATION_POSITIVES = 400


def prediction_metrics(pred_df: DataFrame, bins: int = 10) -> dict[str, Any]:
    """Base rate, mean prediction, ECE (equal-mass bins), log loss, Brier, PR-AUC and ROC-AUC.

    ``pred_df`` has the 0/1 label ``__y`` and the predicted probability ``__p`` (doubles).
    """
    y, p = F.col(LABEL), F.col(SCORE)
    clipped = F.least(F.greatest(p, F.lit(_EPS)), F.lit(1.0 - _EPS))
    quantiles = [i / bins for i in range(1, bins)]
    row = pred_df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(y).alias("positives"),
        F.avg(p).alias("mean_prediction"),
        F.avg(-(y * F.log(clipped) + (F.lit(1.0) - y) * F.log(F.lit(1.0) - clipped))).alias("log_loss"),
        F.avg((p - y) * (p - y)).alias("brier"),
        F.percentile_approx(p, quantiles, 10_000).alias("edges"),
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
    return {
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


def positives_needed(calibration_tolerance: float, minimum: int = CALIBRATION_POSITIVES) -> int:
    """Test positives needed so the base rate is known within half the calibration band (one s.e.)."""
    # relative s.e. of a rate from n positives ~ 1/sqrt(n); ask for <= tolerance / 2
    return max(minimum, math.ceil((2.0 / calibration_tolerance) ** 2))


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

    Returns ``{"factor": F or None, "reason": ..., "checks": {F: {...}}}``; plain Python over the sweep.
    """
    needed = max(min_test_positives, positives_needed(calibration_tolerance, 0))
    by_factor = {float(s["factor"]): s["variants"][variant] for s in sweep}
    if test_positives < needed:
        return {
            "factor": None,
            "reason": (
                f"the test slice has only {test_positives:,} positives; at least {needed:,} are needed before"
                f" PR-AUC differences of {tolerance:.0%} and a {calibration_tolerance:.0%} calibration band mean"
                " anything (hold out more rows: an earlier split.test_from or a larger split.test_fraction)"
            ),
            "needed_test_positives": needed,
            "checks": {},
        }
    if 1.0 not in by_factor or by_factor[1.0].get("pr_auc") is None:
        return {"factor": None, "reason": "the sweep has no F = 1 baseline to compare with", "checks": {}}
    baseline = by_factor[1.0]["pr_auc"]
    checks: dict[str, dict[str, Any]] = {}
    for f in sorted(by_factor):
        m = by_factor[f]
        loss = (baseline - m["pr_auc"]) / baseline if baseline and m.get("pr_auc") is not None else None
        ratio = m.get("calibration_ratio")
        checks[_fkey(f)] = {
            "pr_auc_loss": loss,
            "pr_auc_ok": loss is not None and loss <= tolerance,
            "calibration_ratio": ratio,
            "calibrated": ratio is not None and abs(ratio - 1.0) <= calibration_tolerance,
        }
    passing = [f for f in sorted(by_factor) if checks[_fkey(f)]["pr_auc_ok"] and checks[_fkey(f)]["calibrated"]]
    base_check = checks[_fkey(1.0)]
    if not passing:
        reason = (
            f"no factor passes: even F = 1 predicts {base_check['calibration_ratio']:.3g}x the test base rate"
            f" (allowed: within {calibration_tolerance:.0%}); the test slice differs from the train slice"
            " (drift between the days?) or the features miss what drives the label"
            if not base_check["calibrated"]
            else "no factor passes both checks"
        )
        return {"factor": None, "reason": reason, "checks": checks}
    best = passing[-1]
    c = checks[_fkey(best)]
    reason = (
        f"F = {best:g} is the largest factor whose {variant} model keeps PR-AUC within {tolerance:.0%} of F = 1"
        f" ({by_factor[best]['pr_auc']:.4f} vs {baseline:.4f}, {c['pr_auc_loss']:.1%} lower) and mean prediction"
        f" within {calibration_tolerance:.0%} of the base rate ({c['calibration_ratio']:.3f}x)"
    )
    larger = [f for f in sorted(by_factor) if f > best]
    if larger:
        nxt, n = larger[0], checks[_fkey(larger[0])]
        why = []
        if not n["pr_auc_ok"]:
            why.append(f"loses {n['pr_auc_loss']:.1%} PR-AUC" if n["pr_auc_loss"] is not None else "has no PR-AUC")
        if not n["calibrated"]:
            why.append(f"predicts {n['calibration_ratio']:.3g}x the base rate")
        reason += f"; F = {nxt:g} {' and '.join(why)}"
    return {"factor": best, "reason": reason, "checks": checks}


def _fkey(f: float) -> str:
    return f"{f:g}"
