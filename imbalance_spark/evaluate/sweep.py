"""One factor of the sweep: sample the train slice, fit the variants, score them on the test slice.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from imbalance_spark.config.models import EvaluateConfig, JobConfig
from imbalance_spark.evaluate.bootstrap import (
    BASELINE_BIN,
    ROW_ID,
    SAME_MODEL,
    SCORE_BIN,
    paired_pr_auc_bootstrap,
    pr_auc_comparison,
    with_score_bin,
)
from imbalance_spark.evaluate.features import FEATURES
from imbalance_spark.evaluate.fit import config_for_factor, fit_model, with_probability
from imbalance_spark.evaluate.metrics import LABEL, SCORE, prediction_metrics
from imbalance_spark.plan import SamplingPlan, plan_sampling
from imbalance_spark.profile import profile_classes
from imbalance_spark.transform import (
    sample_input,
    select_output,
    with_example_weight,
)

log = logging.getLogger(__name__)


BASELINE_SCORE = "__p_1"


VARIANTS = ("weighted", "unweighted", "king_zeng")


def _class_table(plan: SamplingPlan, kept: bool) -> dict[str, dict[str, Any]]:
    return {
        c.key: {
            "role": c.role,
            "count": c.predicted_kept if kept else c.count,
            "weight_sum": (c.predicted_kept_weight or 0.0) * c.multiplier if kept else c.weight_sum,
        }
        for c in plan.classes
    }


def _delta_bytes(spark: SparkSession, path: str) -> int:
    from delta.tables import DeltaTable

    return int(DeltaTable.forPath(spark, path).detail().first()["sizeInBytes"])


@dataclass
class Baseline:
    """The test slice scored by the F = 1 weighted model: every later F is compared on these rows (paired)."""

    scored_df: DataFrame  # row id, features, label and the F = 1 score; persisted for the sweep
    score_edges: list[float]  # the F = 1 score's equal-mass bin edges
    pr_auc: float | None  # MLlib's PR-AUC of the F = 1 weighted model
    test_rows: int | None  # rows of the test slice (sizes the sample the bin edges come from)


def evaluate_factor(
    spark: SparkSession,
    cfg: JobConfig,
    factor: float,
    train_df: DataFrame,
    test_df: DataFrame,
    input_columns: list[str],
    sample_dir: Path,
    baseline: Baseline | None = None,
    test_rows: int | None = None,
) -> tuple[dict[str, Any], Baseline | None]:
    """One point of the sweep: the job's sample at ``factor``, three models, their test metrics.

    At F = 1 (``baseline`` None) returns the :class:`Baseline` too; later factors score the
    baseline's persisted test rows and compare their weighted PR-AUC with F = 1's on them.
    """
    ev = cfg.evaluate
    cfg_f = config_for_factor(cfg, factor)
    # The job's own steps, as `run` chains them: profile -> plan -> sample -> weight.
    profile = profile_classes(train_df, cfg_f)
    plan = plan_sampling(profile, cfg_f)
    weight = cfg.weight.column
    # Not persisted here: the draws repeat exactly over the persisted train slice, and the MLlib
    # estimators cache their own (smaller) training instances.
    sample_df = sample_input(train_df, cfg_f, plan).transform(
        with_example_weight, cfg.label_column, plan.multipliers, weight, cfg.weight.source_column
    )
    # What the sample costs on disk, as the job writes it (every input column and the weight).
    path = sample_dir / f"factor={factor:g}"
    sample_df.transform(select_output, input_columns, weight).write.format("delta").mode("overwrite").save(str(path))
    sample_bytes = _delta_bytes(spark, str(path))
    shutil.rmtree(path, ignore_errors=True)
    fit_df = sample_df.select(FEATURES, LABEL, weight)
    majority = [c for c in plan.classes if c.downsampled]
    offset = majority[0].logit_offset if majority else 0.0
    variants: dict[str, dict[str, Any]] = {}
    model, seconds, iterations = fit_model(fit_df, ev, weight, cfg.downsampling.seed)
    timing = {"train_seconds": seconds, "iterations": iterations}
    if baseline is None:
        variants["weighted"], baseline = _score_baseline(model, test_df, ev, test_rows)
        variants["weighted"] |= timing
        created = baseline
    else:
        variants["weighted"] = _score_paired(model, baseline, ev) | timing
        created = None
    scored_test_df = baseline.scored_df
    if factor == 1.0:
        # Every weight is the source weight (or 1): the three variants are one model.
        variants["unweighted"] = dict(variants["weighted"])
        variants["king_zeng"] = dict(variants["weighted"])
    else:
        model, seconds, iterations = fit_model(fit_df, ev, cfg.weight.source_column, cfg.downsampling.seed)
        timing = {"train_seconds": seconds, "iterations": iterations}
        variants["unweighted"] = _score(model, scored_test_df, 0.0, ev.bins) | timing
        variants["king_zeng"] = _score(model, scored_test_df, offset, ev.bins) | timing
    rows = plan.predicted_rows
    log.info(
        "evaluate: F = %g: %s training rows, %s bytes; PR-AUC weighted %.4f, unweighted %.4f",
        factor, f"{rows:,}", f"{sample_bytes:,}", variants["weighted"]["pr_auc"] or float("nan"),
        variants["unweighted"]["pr_auc"] or float("nan"),
    )
    point = {
        "factor": factor,
        "train_rows": rows,
        "sample_bytes": sample_bytes,
        "logit_offset": offset,
        "classes": _class_table(plan, kept=True),
        "variants": variants,
    }
    return point, created


def _score(model, test_df: DataFrame, offset: float, bins: int) -> dict[str, Any]:
    # Two small columns, read by the several aggregations of the metrics: keep them.
    pred_df = model.transform(test_df.select(FEATURES, LABEL)).transform(with_probability, offset).persist()
    try:
        return prediction_metrics(pred_df, bins)
    finally:
        pred_df.unpersist()


def _score_baseline(
    model, test_df: DataFrame, ev: EvaluateConfig, test_rows: int | None
) -> tuple[dict[str, Any], Baseline]:
    # The F = 1 scores stay persisted beside the features: every later F scores these rows (no
    # re-filtering of the input) and is compared with F = 1 on them.
    scored_df = (
        model.transform(test_df.select(ROW_ID, FEATURES, LABEL))
        .transform(with_probability, 0.0, (ROW_ID, FEATURES))
        .persist()
    )
    metrics = prediction_metrics(scored_df, ev.bins, ev.score_bins, test_rows)
    edges = metrics.pop("score_edges")
    metrics["pr_auc_vs_f1"] = dict(SAME_MODEL)
    return metrics, Baseline(scored_df, edges, metrics["pr_auc"], test_rows)


def _score_paired(model, baseline: Baseline, ev: EvaluateConfig) -> dict[str, Any]:
    pred_df = (
        model.transform(baseline.scored_df.select(ROW_ID, FEATURES, LABEL, F.col(SCORE).alias(BASELINE_SCORE)))
        .transform(with_probability, 0.0, (ROW_ID, BASELINE_SCORE))
        .persist()
    )
    try:
        metrics = prediction_metrics(pred_df, ev.bins, ev.score_bins, baseline.test_rows)
        edges = metrics.pop("score_edges")
        if metrics["pr_auc"] is None or baseline.pr_auc is None:
            metrics["pr_auc_vs_f1"] = None
            return metrics
        binned_df = pred_df.transform(with_score_bin, BASELINE_SCORE, baseline.score_edges, BASELINE_BIN).transform(
            with_score_bin, SCORE, edges, SCORE_BIN
        )
        bootstrap = paired_pr_auc_bootstrap(binned_df, ev.bootstrap_replicates, ev.bootstrap_seed)
        metrics["pr_auc_vs_f1"] = pr_auc_comparison(metrics["pr_auc"], baseline.pr_auc, bootstrap)
        return metrics
    finally:
        pred_df.unpersist()


def sweep_factors(cfg: JobConfig, factors: list[float] | None = None) -> tuple[list[float], float | None]:
    """The factors to train at (always with the F = 1 baseline) and the configured one, if a single F."""
    wanted = [float(f) for f in (factors or cfg.evaluate.factors)]
    configured = cfg.downsampling.factor
    configured = float(configured) if isinstance(configured, (int, float)) else None
    extra = [1.0] + ([configured] if configured is not None else [])
    return sorted(set(wanted + extra)), configured
