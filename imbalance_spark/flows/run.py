"""The job flow: config -> read -> profile -> plan -> transform -> write -> report.

``run_job`` reads as its steps; each step is a small function below it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql.types import DoubleType, StructField, StructType

from imbalance_spark.common.dates import RunDates
from imbalance_spark.config.models import JobConfig
from imbalance_spark.errors import GuardError
from imbalance_spark.flows.file_order import measure_output_files
from imbalance_spark.flows.profile import profile_input, slice_text
from imbalance_spark.flows.steps import (
    RunContext,
    commit_metadata,
    finish_report,
    plan_run,
    run_info,
    table_properties,
    warm_up_figures,
    weighted_output,
)
from imbalance_spark.flows.timer import StageTimer
from imbalance_spark.plan import SamplingPlan, check_guards
from imbalance_spark.profile import ClassProfile, kept_by_class, kept_by_stratum
from imbalance_spark.read import InputTable, describe_input, read_input
from imbalance_spark.report.build import WriteInfo, build_report, history_rows, report_path
from imbalance_spark.report.models import Lineage, MlflowRef, OutputFiles, RunReport
from imbalance_spark.tables.history import append_history
from imbalance_spark.tables.inspect import (
    OutputTable,
    check_column_names,
    check_output,
    check_output_schema,
    check_partition_count,
    describe_output,
    replace_where,
    resolve_output_mode,
)
from imbalance_spark.tables.write import (
    create_with_properties,
    latest_version,
    write_delta,
)
from imbalance_spark.tracking.runs import MlflowRun, log_job_run, require_mlflow, resolve_experiment, start_job_run
from imbalance_spark.transform import (
    downsample,
    mix_rows,
    observe_output,
    sample_input,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSeams:
    """Replaceable steps of run_job, for tests and benchmark variants; the defaults are the job's own."""

    downsample: Callable = downsample  # same signature as transform.downsample
    create_table: Callable = create_with_properties  # (df, out, user_metadata, properties)
    before_write: Callable[[DataFrame], DataFrame] | None = None  # applied to the output df just before the write


@dataclass(frozen=True)
class _Written:
    """What the write step left: the output as written, its observed counts, version and predicate, its files."""

    output_df: DataFrame
    observed: dict[str, Any] | None
    info: WriteInfo
    files: OutputFiles | None = None


def run_job(
    spark: SparkSession,
    cfg: JobConfig,
    dates: RunDates | None = None,
    *,
    sample_hook: Callable[[DataFrame], DataFrame] | None = None,
    mlflow_experiment: str | None = None,
    seams: RunSeams = RunSeams(),  # noqa: B008 (frozen, so one shared default is safe)
) -> RunReport:
    """Run the whole job for one dataset config (and optionally one date slice); return the report.

    ``sample_hook`` transforms the sample before the guards (a test seam to force a failure).
    ``mlflow_experiment`` (else ``tracking.mlflow.experiment``) records the run in MLflow.
    ``seams`` replaces steps (the sampler, the table creation, a last transform before the write).
    """
    experiment = resolve_experiment(mlflow_experiment, cfg)
    if experiment:
        require_mlflow()
    run = RunContext(cfg, dates, uuid.uuid4().hex[:12], dt.datetime.now(dt.timezone.utc),
               resolve_output_mode(cfg.output, dates), StageTimer())
    figures = warm_up_figures() if cfg.report.path else None
    source = _read(spark, run)
    found = _check_output(spark, run, source)
    profile = _profile(run, source)
    lineage = run_info(cfg, source, run.run_id, profile.date_span)
    plan = plan_run(cfg, profile)
    sample_df, plan = _sample(run, source.df, plan, sample_hook, seams.downsample)
    _guard(cfg, plan)
    written = _write(spark, run, weighted_output(cfg, sample_df, source.df, plan), plan, lineage, found, seams)
    report = _report(run, plan, profile, lineage, written)
    _append_history(spark, run, report)
    tracker = start_job_run(experiment, cfg, report) if experiment else None
    if tracker is not None:
        report = dataclasses.replace(report, mlflow=MlflowRef(**tracker.summary()))
    report = finish_report(run, report, figures)
    if tracker is not None:
        _log_mlflow(tracker, run, report, source.df, written.output_df)
    return report


def _read(spark: SparkSession, run: RunContext) -> InputTable:
    """Read the input, pinned to one Delta version and sliced to the run's dates."""
    with run.timer.stage("read", f"opening {describe_input(run.cfg)}{slice_text(run.dates)}"):
        return read_input(spark, run.cfg, run.dates)


def _check_output(spark: SparkSession, run: RunContext, source: InputTable) -> OutputTable:
    """Look the output up once; refuse, before any work, what it cannot take."""
    cfg = run.cfg
    with run.timer.stage("output_check", f"looking up the output {describe_output(cfg.output)}"):
        found = check_output(spark, cfg.output, run.mode)
        out_schema = StructType([*source.df.schema.fields, StructField(cfg.weight.column, DoubleType())])
        check_column_names(out_schema, cfg.output, found)
    return found


def _profile(run: RunContext, source: InputTable) -> ClassProfile:
    """Count the classes (a whole table: also its date span) and check the output's partition count."""
    cfg = run.cfg
    with run.timer.stage("profile", f"counting classes of {cfg.label_column!r} (label column only)"):
        profile = profile_input(source, cfg, run.dates, span=True)
    check_partition_count(cfg.output, profile.partitions, profile.partitions_by_column)
    return profile


def _sample(
    run: RunContext,
    input_df: DataFrame,
    plan: SamplingPlan,
    sample_hook: Callable[[DataFrame], DataFrame] | None,
    sampler: Callable[..., DataFrame],
) -> tuple[DataFrame, SamplingPlan]:
    """The sample, and the plan with its kept counts (counted here when the profile could not predict them)."""
    sample_df = sample_input(input_df, run.cfg, plan, sampler)
    if sample_hook is not None:
        sample_df = sample_df.transform(sample_hook)
    if sample_hook is not None or not plan.kept_known:
        with run.timer.stage("check", "counting the sample per class (label/key columns only)"):
            if plan.strata:
                plan = plan.with_kept_strata(kept_by_stratum(sample_df, run.cfg))
            else:
                plan = plan.with_kept(kept_by_class(sample_df, run.cfg))
    return sample_df, plan


def _guard(cfg: JobConfig, plan: SamplingPlan) -> None:
    """Refuse a sample whose kept counts are off the plan by more than the guards allow."""
    if not cfg.guards.enabled:
        return
    problems = check_guards(plan, cfg.guards.sigmas)
    if problems:
        raise GuardError(
            f"sample guard failed, nothing written to {describe_output(cfg.output)}: " + "; ".join(problems)
        )


def _write(
    spark: SparkSession,
    run: RunContext,
    output_df: DataFrame,
    plan: SamplingPlan,
    lineage: Lineage,
    found: OutputTable,
    seams: RunSeams,
) -> _Written:
    """Write the output in one commit (its counts observed on the way, where Delta delivers them)."""
    cfg, mode = run.cfg, run.mode
    write_options = check_output_schema(cfg.output, output_df, mode, found)
    where = replace_where(output_df, cfg.input.date_column, run.dates) if mode == "replace_slice" else None
    # A new table is created with CREATE TABLE ... AS SELECT (to carry its properties in the same
    # commit), and a catalog table is written through its catalog: neither delivers observed
    # metrics, so the checked counts stand for them there.
    observation = Observation(f"imbalance_spark_{run.run_id}") if found.exists and cfg.output.table is None else None
    if observation is not None:
        keys = [c.key for c in plan.classes]
        output_df = output_df.transform(observe_output, observation, cfg.label_column, keys, cfg.weight.column)
    to_write = output_df
    if cfg.output.row_order == "mixed":
        to_write = to_write.transform(mix_rows, cfg.downsampling.seed, cfg.output.partition_by)
    to_write = to_write.transform(seams.before_write) if seams.before_write is not None else to_write
    target = describe_output(cfg.output)
    with run.timer.stage("write", f"writing Delta ({mode}) to {target}{slice_text(run.dates)}"):
        write_delta(
            to_write,
            cfg.output,
            commit_metadata(cfg, plan, lineage),
            table_properties(cfg, plan, output_df.schema),
            found=found,
            mode=mode,
            where=where,
            options=write_options,
            create=seams.create_table,
        )
        observed = observation.get if observation is not None else None
    with run.timer.stage("version", "looking up the version written"):
        version = latest_version(spark, cfg.output)
    with run.timer.stage("files", "reading the output's files back in file order"):
        files = measure_output_files(spark, cfg, plan.minority_keys, version, output_df.schema)
    info = WriteInfo(target=target, version=version, partition_by=tuple(cfg.output.partition_by), mode=mode,
                     replace_where=where)
    return _Written(output_df=output_df, observed=observed, info=info, files=files)


def _mismatch_notes(plan: SamplingPlan, observed: dict[str, Any] | None) -> list[str]:
    """The plan's notes, and one when the written counts differ from the checked sample."""
    notes = list(plan.notes)
    mismatched = [
        c.key
        for i, c in enumerate(plan.classes)
        if observed is not None and int(observed.get(f"count_{i}") or 0) != c.predicted_kept
    ]
    if mismatched:
        log.warning("kept counts of %s differ from the checked sample", mismatched)
        notes.append(
            f"kept counts of class(es) {mismatched} differ from the pre-write check"
            " (the input changed or was re-partitioned between passes); the report shows what was written"
        )
    return notes


def _report(
    run: RunContext, plan: SamplingPlan, profile: ClassProfile, lineage: Lineage, written: _Written
) -> RunReport:
    """The run's report, from the plan, what was written and the stages so far."""
    return build_report(
        run.cfg,
        plan,
        observed=written.observed,
        null_labels_dropped=profile.null_labels,
        lineage=lineage,
        started_at=run.started.isoformat(timespec="seconds"),
        written=written.info,
        stages=run.timer.stages,
        duration_s=run.timer.elapsed,
        notes=_mismatch_notes(plan, written.observed),
        output_files=written.files,
    )


def _append_history(spark: SparkSession, run: RunContext, report: RunReport) -> None:
    """Append the run's class proportions to the history table, when one is configured."""
    if run.cfg.history.enabled:
        with run.timer.stage("history", "appending class proportions to the history table"):
            append_history(spark, run.cfg.history, history_rows(report, run.started))


def _log_mlflow(
    tracker: MlflowRun, run: RunContext, report: RunReport, input_df: DataFrame, output_df: DataFrame
) -> None:
    """Log the finished run to its MLflow run: params, metrics, the report, the picture, both tables."""
    log_job_run(
        tracker,
        run.cfg,
        report,
        input_df=input_df,
        output_df=output_df,
        report_file=report_path(run.cfg.report.path, report.run_dates),
    )
