"""The profile flow: read and profile the input, plan, and summarise without writing.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession

from imbalance_spark.common.dates import RunDates
from imbalance_spark.config.models import JobConfig
from imbalance_spark.errors import EmptyInputError
from imbalance_spark.flows.timer import StageTimer
from imbalance_spark.plan import SamplingPlan, plan_sampling
from imbalance_spark.profile import ClassProfile, date_range, profile_classes
from imbalance_spark.read import InputTable, describe_input, read_input
from imbalance_spark.report.build import profile_hint, profile_section


def _slice_text(dates: RunDates | None) -> str:
    return f" for run date(s) {dates}" if dates is not None else ""


def profile_input(source: InputTable, cfg: JobConfig, dates: RunDates | None) -> ClassProfile:
    """Profile the run's slice; an empty slice's error says which dates the input has."""
    try:
        return profile_classes(source.df, cfg, _slice_text(dates))
    except EmptyInputError as exc:
        if source.unsliced_df is None:
            raise
        span = date_range(source.unsliced_df, cfg.input.date_column)
        has = f"{span[0]} to {span[1]}" if span else "no dates at all"
        raise EmptyInputError(f"{exc}; input.date_column {cfg.input.date_column!r} has {has}") from None


def profile_job(
    spark: SparkSession, cfg: JobConfig, dates: RunDates | None = None
) -> tuple[ClassProfile, SamplingPlan, dict[str, Any]]:
    """Read and profile the input; return the profile, the plan and a report-like summary."""
    timer = StageTimer()
    with timer.stage("read", f"opening {describe_input(cfg)}{_slice_text(dates)}"):
        source = read_input(spark, cfg, dates)
    with timer.stage("profile", f"counting classes of {cfg.label_column!r}"):
        profile = profile_input(source, cfg, dates)
    plan = plan_sampling(profile, cfg)
    summary = {
        "dataset": cfg.dataset,
        "label_column": cfg.label_column,
        "run_dates": str(dates) if dates else None,
        "input_version": source.version,
        "degree": plan.degree,
        "minority_share": plan.minority_share,
        "minority_classes": plan.minority_keys,
        "majority_classes": plan.majority_keys,
        "factors": {c.key: c.factor for c in plan.classes},
        "input": profile_section(plan, profile.null_labels),
        "hint": profile_hint(plan),
        "stages_s": {k: round(v, 3) for k, v in timer.stages.items()},
        "duration_s": round(timer.elapsed, 3),
    }
    return profile, plan, summary
