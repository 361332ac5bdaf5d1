"""One factor of the sweep: sample the train slice, fit the variants, score them on the test slice.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
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
from imbalance_spark.evaluate.calibration import carried, group_calibration
from imbalance_spark.evaluate.features import FEATURES
from imbalance_spark.evaluate.fit import config_for_factor, fit_model, with_logit_offset, with_probability
from imbalance_spark.evaluate.metrics import LABEL, SCORE
from imbalance_spark.evaluate.progress import FactorClock
from imbalance_spark.evaluate.report import ClassCount, PrAucComparison, SweepPoint, VariantMetrics
from imbalance_spark.evaluate.scoring import histogram_metrics, score_histogram, score_histograms
from imbalance_spark.plan import SamplingPlan, plan_sampling
from imbalance_spark.profile import profile_classes
from imbalance_spark.transform import (
    sample_input,
    select_output,
    with_example_weight,
)

log = logging.getLogger(__name__)


BASELINE_SCORE = "__p_1"


KING_ZENG_SCORE = "__p_kz"


VARIANTS = ("weighted", "unweighted", "king_zeng")


def _class_table(plan: SamplingPlan) -> dict[str, ClassCount]:
    """The classes kept at this F: predicted rows and their weighted totals."""
    return {
        c.key: ClassCount(c.role, c.predicted_kept, (c.predicted_kept_weight or 0.0) * c.multiplier)
        for c in plan.classes
    }


def delta_data_bytes(path: Path) -> int:
    """The bytes of the data files a fresh (one-commit) local Delta table holds: its first commit's adds.

    The same number as ``DESCRIBE DETAIL``'s ``sizeInBytes`` for such a table, read from the log
    without a Delta look-up.
    """
    commit = path / "_delta_log" / f"{0:020d}.json"
    actions = (json.loads(line) for line in commit.read_text().splitlines() if line.strip())
    return sum(int(a["add"]["size"]) for a in actions if "add" in a)


@dataclass
class Baseline:
    """The test slice scored by the F = 1 weighted model: every later F is compared on these rows (paired)."""

    scored_df: DataFrame  # row id, features, label and the F = 1 score; persisted for the sweep
    score_edges: list[float]  # the F = 1 score's equal-mass bin edges
    pr_auc: float | None  # MLlib's PR-AUC of the F = 1 weighted model
    test_rows: int | None  # rows of the test slice (sizes the sample the bin edges come from)


@dataclass(frozen=True)
class FactorSample:
    """The job's sample of the train slice at one F: its plan and the rows to fit on."""

    factor: float
    plan: SamplingPlan
    fit_df: DataFrame  # features, label and the weight column
    logit_offset: float  # King-Zeng: ln(1/F) of the downsampled majority (0 when none is)


@dataclass
class SampleSize:
    """The sample's bytes as the job writes it (Delta): measured once, on the first (F = 1) sample.

    Later samples are estimated from its bytes per row: a Delta write per F only to measure its
    size cost a pass over the train slice per F. Smaller files compress less well, so the estimate
    runs low for small samples (15-35% at F = 10-100 on the demo table).
    """

    directory: Path
    bytes_per_row: float | None = None

    def bytes_for(self, rows: int, output: Callable[[], DataFrame]) -> int:
        """The bytes of ``rows`` rows of the job's output; ``output`` builds it when it is measured."""
        if self.bytes_per_row is None:
            path = self.directory / "measured"
            output().write.format("delta").mode("overwrite").save(str(path))
            measured = delta_data_bytes(path)
            shutil.rmtree(path, ignore_errors=True)
            self.bytes_per_row = measured / rows if rows else 0.0
            return measured
        return round(self.bytes_per_row * rows)


@dataclass(frozen=True)
class SweepInputs:
    """What every F of the sweep shares: the config, the slices and how samples are measured."""

    cfg: JobConfig
    train_df: DataFrame
    test_df: DataFrame
    input_columns: list[str]
    sample_size: SampleSize
    test_rows: int | None


def evaluate_factor(inputs: SweepInputs, factor: float,
                    baseline: Baseline | None = None) -> tuple[SweepPoint, Baseline | None]:
    """One point of the sweep: the job's sample at ``factor``, three models, their test metrics.

    At F = 1 (``baseline`` None) returns the :class:`Baseline` too; later factors score the
    baseline's persisted test rows and compare their weighted PR-AUC with F = 1's on them.
    """
    clock = FactorClock(factor)
    with clock.step("sample", "sampling the train slice (persisted for the fits)"):
        sample, sample_bytes = _sample(inputs, factor)
    try:
        weighted, created = _weighted_variant(clock, inputs, sample, baseline)
        baseline = baseline or created
        if factor == 1.0:
            # Every weight is the source weight (or 1): the three variants are one model.
            unweighted = king_zeng = weighted
        else:
            unweighted, king_zeng = _unweighted_variants(clock, inputs, sample, baseline)
    finally:
        sample.fit_df.unpersist()
    variants = {"weighted": weighted, "unweighted": unweighted, "king_zeng": king_zeng}
    log.info(
        "evaluate: F = %g: %s training rows, %s bytes; PR-AUC weighted %.4f, unweighted %.4f",
        factor, f"{sample.plan.predicted_rows:,}", f"{sample_bytes:,}", weighted.pr_auc or float("nan"),
        unweighted.pr_auc or float("nan"),
    )
    point = SweepPoint(factor=factor, train_rows=sample.plan.predicted_rows, sample_bytes=sample_bytes,
                       logit_offset=sample.logit_offset, classes=_class_table(sample.plan), variants=variants,
                       stages_s=clock.seconds())
    return point, created


def _sample(inputs: SweepInputs, factor: float) -> tuple[FactorSample, int]:
    """The job's own steps, as `run` chains them (profile -> plan -> sample -> weight), and the sample's bytes."""
    cfg = inputs.cfg
    cfg_f = config_for_factor(cfg, factor)
    plan = plan_sampling(profile_classes(inputs.train_df, cfg_f), cfg_f)
    weight, source = cfg.weight.column, cfg.weight.source_column
    sample_df = sample_input(inputs.train_df, cfg_f, plan).transform(
        with_example_weight, cfg.label_column, plan.multipliers, weight, source
    )
    # Persisted and counted once: the fits (and MLlib's own passes within each) read these few
    # columns, not the train slice they were drawn from, which every pass would otherwise rescan.
    fit_df = sample_df.select(FEATURES, LABEL, weight, *([source] if source and source != weight else []))
    fit_df = fit_df.persist(getattr(StorageLevel, cfg.evaluate.storage_level))
    kept = fit_df.count()
    sample_bytes = inputs.sample_size.bytes_for(kept, lambda: sample_df.transform(
        select_output, inputs.input_columns, weight))
    majority = [c for c in plan.classes if c.downsampled]
    offset = majority[0].logit_offset if majority else 0.0
    return FactorSample(factor, plan, fit_df, offset), sample_bytes


def _weighted_variant(clock: FactorClock, inputs: SweepInputs, sample: FactorSample,
                      baseline: Baseline | None) -> tuple[VariantMetrics, Baseline | None]:
    """Fit with the weight column and score it: at F = 1 this makes the baseline, later it is paired with it."""
    cfg, ev = inputs.cfg, inputs.cfg.evaluate
    with clock.step("fit_weighted", "fitting the weighted model"):
        model, seconds, iterations = fit_model(sample.fit_df, ev, cfg.weight.column, cfg.downsampling.seed)
    if baseline is None:
        with clock.step("score_weighted", "scoring the weighted model on the test slice (the F = 1 baseline)"):
            metrics, created = _score_baseline(model, inputs.test_df, ev, inputs.test_rows)
        comparison = SAME_MODEL
    else:
        metrics, comparison = _score_paired(clock, model, baseline, ev)
        created = None
    variant = VariantMetrics.of(metrics, comparison, paired=True, train_seconds=seconds, iterations=iterations)
    return variant, created


def _unweighted_variants(clock: FactorClock, inputs: SweepInputs, sample: FactorSample,
                         baseline: Baseline) -> tuple[VariantMetrics, VariantMetrics]:
    """Fit without the weight; score it as is and with the King-Zeng offset, in one pass over the baseline's rows."""
    cfg, ev = inputs.cfg, inputs.cfg.evaluate
    with clock.step("fit_unweighted", "fitting the unweighted model"):
        model, seconds, iterations = fit_model(sample.fit_df, ev, cfg.weight.source_column, cfg.downsampling.seed)
    with clock.step("score_unweighted", "scoring the unweighted model, as is and King-Zeng corrected"):
        groups = carried(baseline.scored_df)
        pred_df = model.transform(baseline.scored_df.select(FEATURES, LABEL, *groups)).transform(
            with_probability, 0.0, groups)
        corrected = with_logit_offset(F.col(SCORE), sample.logit_offset)
        pred_df = pred_df.select(*groups, LABEL, SCORE, corrected.alias(KING_ZENG_SCORE))
        if groups:  # the group tables read the scores again: keep them
            pred_df = pred_df.persist()
        histograms = score_histograms(pred_df, {"unweighted": SCORE, "king_zeng": KING_ZENG_SCORE})
    scored = []
    for name, column in (("unweighted", SCORE), ("king_zeng", KING_ZENG_SCORE)):
        with clock.step(f"score_{name}", f"the {name} model's metrics"):
            metrics = histogram_metrics(histograms[name], ev.bins) | group_calibration(pred_df, LABEL, column)
        scored.append(VariantMetrics.of(metrics, None, paired=False, train_seconds=seconds, iterations=iterations))
    if groups:
        pred_df.unpersist()
    return scored[0], scored[1]


def _score_baseline(
    model, test_df: DataFrame, ev: EvaluateConfig, test_rows: int | None
) -> tuple[dict[str, Any], Baseline]:
    # The F = 1 scores stay persisted beside the features: every later F scores these rows (no
    # re-filtering of the input) and is compared with F = 1 on them.
    scored_df = (
        model.transform(test_df.select(ROW_ID, FEATURES, LABEL, *carried(test_df)))
        .transform(with_probability, 0.0, (ROW_ID, FEATURES, *carried(test_df)))
        .persist()
    )
    metrics = histogram_metrics(score_histogram(scored_df), ev.bins, ev.score_bins) | group_calibration(
        scored_df, LABEL, SCORE)
    edges = metrics.pop("score_edges")
    return metrics, Baseline(scored_df, edges, metrics["pr_auc"], test_rows)


def _score_paired(clock: FactorClock, model, baseline: Baseline,
                  ev: EvaluateConfig) -> tuple[dict[str, Any], PrAucComparison | None]:
    # Persisted (three numbers a row): the histogram pass scores the rows once, the bootstrap reads them.
    pred_df = (
        model.transform(baseline.scored_df.select(FEATURES, LABEL, F.col(SCORE).alias(BASELINE_SCORE),
                                                  *carried(baseline.scored_df)))
        .transform(with_probability, 0.0, (BASELINE_SCORE, *carried(baseline.scored_df)))
        .persist()
    )
    try:
        with clock.step("score_weighted", "scoring the weighted model on the test slice"):
            metrics = histogram_metrics(score_histogram(pred_df), ev.bins, ev.score_bins)
            metrics |= group_calibration(pred_df, LABEL, SCORE)  # per day and segment, when the rows carry them
        edges = metrics.pop("score_edges")
        if metrics["pr_auc"] is None or baseline.pr_auc is None:
            return metrics, None
        what = f"bootstrapping the PR-AUC difference to F = 1 ({ev.bootstrap_replicates} paired replicates)"
        with clock.step("bootstrap", what):
            binned_df = pred_df.transform(with_score_bin, BASELINE_SCORE, baseline.score_edges,
                                          BASELINE_BIN).transform(with_score_bin, SCORE, edges, SCORE_BIN)
            bootstrap = paired_pr_auc_bootstrap(binned_df, ev.bootstrap_replicates, ev.bootstrap_seed)
        return metrics, pr_auc_comparison(metrics["pr_auc"], baseline.pr_auc, bootstrap)
    finally:
        pred_df.unpersist()


def sweep_factors(cfg: JobConfig, factors: list[float] | None = None) -> tuple[list[float], float | None]:
    """The factors to train at (always with the F = 1 baseline) and the configured one, if a single F."""
    wanted = [float(f) for f in (factors or cfg.evaluate.factors)]
    configured = cfg.downsampling.factor
    configured = float(configured) if isinstance(configured, (int, float)) else None
    extra = [1.0] + ([configured] if configured is not None else [])
    return sorted(set(wanted + extra)), configured
