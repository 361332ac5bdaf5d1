"""The profile flow: read and profile the input, plan, and summarise without writing.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from imbalance_spark.common.dates import RunDates
from imbalance_spark.config.models import JobConfig
from imbalance_spark.errors import EmptyInputError
from imbalance_spark.flows.timer import StageTimer
from imbalance_spark.plan import SamplingPlan, plan_sampling
from imbalance_spark.profile import ClassProfile, date_range, profile_classes
from imbalance_spark.read import InputTable, describe_input, read_input
from imbalance_spark.report.build import build_profile_summary
from imbalance_spark.report.models import ProfileSummary


def slice_text(dates: RunDates | None) -> str:
    """`` for run date(s) ...`` for the log lines of a sliced run, empty for a whole table."""
    return f" for run date(s) {dates}" if dates is not None else ""


def profile_input(source: InputTable, cfg: JobConfig, dates: RunDates | None, *, span: bool = False) -> ClassProfile:
    """Profile the run's slice; an empty slice's error says which dates the input has.

    ``span``: a whole-table run also finds its date column's first and last day, in the same pass.
    """
    span_column = cfg.input.date_column if span and dates is None else None
    try:
        return profile_classes(source.df, cfg, slice_text(dates), date_column=span_column)
    except EmptyInputError as exc:
        if source.unsliced_df is None:
            raise
        days = date_range(source.unsliced_df, cfg.input.date_column)
        has = f"{days[0]} to {days[1]}" if days else "no dates at all"
        raise EmptyInputError(f"{exc}; input.date_column {cfg.input.date_column!r} has {has}") from None


def profile_job(
    spark: SparkSession, cfg: JobConfig, dates: RunDates | None = None
) -> tuple[ClassProfile, SamplingPlan, ProfileSummary]:
    """Read and profile the input; return the profile, the plan and the summary ``profile`` prints."""
    timer = StageTimer()
    with timer.stage("read", f"opening {describe_input(cfg)}{slice_text(dates)}"):
        source = read_input(spark, cfg, dates)
    with timer.stage("profile", f"counting classes of {cfg.label_column!r}"):
        profile = profile_input(source, cfg, dates)
    plan = plan_sampling(profile, cfg)
    summary = build_profile_summary(
        cfg,
        plan,
        run_dates=str(dates) if dates else None,
        input_version=source.version,
        null_labels_dropped=profile.null_labels,
        stages=timer.stages,
        duration_s=timer.elapsed,
    )
    return profile, plan, summary
