"""The job flow: config -> read -> profile -> plan -> transform -> write -> report.

``run_job`` reads as its steps; each step is a small function below it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql.types import DoubleType, StructField, StructType

from imbalance_spark import __version__
from imbalance_spark.common.dates import RunDates
from imbalance_spark.common.files import write_json
from imbalance_spark.config.models import JobConfig
from imbalance_spark.errors import GuardError
from imbalance_spark.flows.file_order import measure_output_files
from imbalance_spark.flows.profile import profile_input, slice_text
from imbalance_spark.flows.timer import StageTimer
from imbalance_spark.plan import SamplingPlan, check_guards, plan_sampling
from imbalance_spark.profile import ClassProfile, kept_by_class, kept_by_stratum
from imbalance_spark.read import InputTable, describe_input, read_input
from imbalance_spark.report.build import WriteInfo, build_report, history_rows, report_dates, report_path
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
    cdf_property,
    create_with_properties,
    latest_version,
    stats_property,
    write_delta,
)
from imbalance_spark.tracking.runs import MlflowRun, log_job_run, require_mlflow, resolve_experiment, start_job_run
from imbalance_spark.transform import (
    downsample,
    mix_rows,
    observe_output,
    sample_input,
    select_output,
    with_plan_weight,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSeams:
    """Replaceable steps of run_job, for tests and benchmark variants; the defaults are the job's own."""

    downsample: Callable = downsample  # same signature as transform.downsample
    create_table: Callable = create_with_properties  # (df, out, user_metadata, properties)
    before_write: Callable[[DataFrame], DataFrame] | None = None  # applied to the output df just before the write


def run_info(cfg: JobConfig, source: InputTable, run_id: str, span: tuple[dt.date, dt.date] | None) -> Lineage:
    """Lineage of a run: what it read (pinned version), with which config, for which dates.

    A sliced run covers its dates; a whole-table run the span of its date column (``span``), if any.
    """
    sliced = (source.dates.start, source.dates.end) if source.dates else None
    return Lineage(
        run_id=run_id,
        package_version=__version__,
        config_file=cfg.source_file,
        config_sha256=cfg.source_sha256,
        input_source=describe_input(cfg),
        input_version=source.version,
        run_dates=report_dates(sliced, span),
    )


def commit_metadata(cfg: JobConfig, plan: SamplingPlan, lineage: Lineage) -> str:
    """The compact JSON of the run stored in the Delta commit's userMetadata."""
    return json.dumps(
        {
            "tool": f"imbalance-spark {lineage.package_version}",
            "run_id": lineage.run_id,
            "dataset": cfg.dataset,
            "input": lineage.input_source,
            "input_version": lineage.input_version,
            "run_dates": lineage.run_dates.as_dict(),
            "config_sha256": lineage.config_sha256,
            "method": cfg.downsampling.method,
            "seed": cfg.downsampling.seed,
            "factors": {c.key: c.factor for c in plan.classes if c.downsampled},
            "weight_mode": cfg.weight.mode,
            "rows_in": plan.rows,
            "rows_out": plan.predicted_rows,
            "in": {c.key: c.count for c in plan.classes},
            "out": {c.key: c.predicted_kept for c in plan.classes},
            **({"strata": list(plan.strata_columns)} if plan.strata else {}),
        },
        separators=(",", ":"),
    )


def table_properties(cfg: JobConfig, plan: SamplingPlan, schema: StructType) -> dict[str, str]:
    """Delta table properties: the sampling facts for consumers that ignore the weight column, and the
    columns Delta keeps file statistics for."""
    props = {
        "imbalance_spark.method": cfg.downsampling.method,
        "imbalance_spark.seed": str(cfg.downsampling.seed),
        "imbalance_spark.weight_column": cfg.weight.column,
        "imbalance_spark.weight_mode": cfg.weight.mode,
    }
    for c in plan.classes:
        if c.downsampled and not c.varies:
            props[f"imbalance_spark.factor.{c.key}"] = repr(c.factor)
            props[f"imbalance_spark.logit_offset.{c.key}"] = repr(c.logit_offset)
    if plan.strata:
        props[STRATA_PROPERTY] = strata_property(plan)
    explicit = isinstance(cfg.output.stats_columns, list)
    return {**props, **stats_property(cfg.stats_columns(), explicit, schema), **cdf_property(cfg.output)}


# A stratified output's factors and King-Zeng offsets, one entry per stratum (a single offset
# per class no longer holds when each stratum has its own factor).
STRATA_PROPERTY = "imbalance_spark.strata"


def strata_property(plan: SamplingPlan) -> str:
    """The JSON of ``imbalance_spark.strata``: the columns, and per stratum its values, factors and offsets."""
    strata = [
        {
            "values": dict(zip(plan.strata_columns, s.values, strict=True)),
            "factors": {c.key: c.factor for c in s.classes if c.downsampled},
            "logit_offsets": {c.key: c.logit_offset for c in s.classes if c.downsampled},
        }
        for s in plan.strata
    ]
    return json.dumps({"columns": list(plan.strata_columns), "strata": strata}, separators=(",", ":"))


def _warm_up_figures() -> threading.Thread:
    """Import matplotlib in the background while Spark works (a cold import would wait at the end)."""

    def load() -> None:
        try:
            import matplotlib.figure  # noqa: F401
            from matplotlib.backends import backend_agg  # noqa: F401
        except Exception:  # the picture's own call reports any problem
            pass

    thread = threading.Thread(target=load, name="imbalance-spark-figures", daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True)
class _Run:
    """What every step of one run shares: its config, dates, id, start, write mode and timer."""

    cfg: JobConfig
    dates: RunDates | None
    run_id: str
    started: dt.datetime
    mode: str
    timer: StageTimer


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
    run = _Run(cfg, dates, uuid.uuid4().hex[:12], dt.datetime.now(dt.timezone.utc),
               resolve_output_mode(cfg.output, dates), StageTimer())
    figures = _warm_up_figures() if cfg.report.path else None
    source = _read(spark, run)
    found = _check_output(spark, run, source)
    profile = _profile(run, source)
    lineage = run_info(cfg, source, run.run_id, profile.date_span)
    plan = _plan(cfg, profile)
    sample_df, plan = _sample(run, source.df, plan, sample_hook, seams.downsample)
    _guard(cfg, plan)
    written = _write(spark, run, _weighted_output(cfg, sample_df, source.df, plan), plan, lineage, found, seams)
    report = _report(run, plan, profile, lineage, written)
    _append_history(spark, run, report)
    tracker = start_job_run(experiment, cfg, report) if experiment else None
    if tracker is not None:
        report = dataclasses.replace(report, mlflow=MlflowRef(**tracker.summary()))
    report = _finish(run, report, figures)
    if tracker is not None:
        _log_mlflow(tracker, run, report, source.df, written.output_df)
    return report


def _read(spark: SparkSession, run: _Run) -> InputTable:
    """Read the input, pinned to one Delta version and sliced to the run's dates."""
    with run.timer.stage("read", f"opening {describe_input(run.cfg)}{slice_text(run.dates)}"):
        return read_input(spark, run.cfg, run.dates)


def _check_output(spark: SparkSession, run: _Run, source: InputTable) -> OutputTable:
    """Look the output up once; refuse, before any work, what it cannot take."""
    cfg = run.cfg
    with run.timer.stage("output_check", f"looking up the output {describe_output(cfg.output)}"):
        found = check_output(spark, cfg.output, run.mode)
        out_schema = StructType([*source.df.schema.fields, StructField(cfg.weight.column, DoubleType())])
        check_column_names(out_schema, cfg.output, found)
    return found


def _profile(run: _Run, source: InputTable) -> ClassProfile:
    """Count the classes (a whole table: also its date span) and check the output's partition count."""
    cfg = run.cfg
    with run.timer.stage("profile", f"counting classes of {cfg.label_column!r} (label column only)"):
        profile = profile_input(source, cfg, run.dates, span=True)
    check_partition_count(cfg.output, profile.partitions, profile.partitions_by_column)
    return profile


def _plan(cfg: JobConfig, profile: ClassProfile) -> SamplingPlan:
    """Plan each class's keep fraction and weight."""
    plan = plan_sampling(profile, cfg)
    log.info(
        "plan: %s imbalance, minority %s, factors %s%s",
        plan.degree,
        plan.minority_keys,
        {c.key: c.factor for c in plan.classes},
        f" (skipped: {plan.skipped})" if plan.skipped else "",
    )
    return plan


def _sample(
    run: _Run,
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


def _weighted_output(cfg: JobConfig, sample_df: DataFrame, input_df: DataFrame, plan: SamplingPlan) -> DataFrame:
    """The sample with its example weight (per class, or per class x stratum), in the output's column order."""
    weighted_df = sample_df.transform(with_plan_weight, cfg, plan)
    return weighted_df.transform(select_output, input_df.columns, cfg.weight.column)


def _write(
    spark: SparkSession,
    run: _Run,
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


def _report(run: _Run, plan: SamplingPlan, profile: ClassProfile, lineage: Lineage, written: _Written) -> RunReport:
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


def _append_history(spark: SparkSession, run: _Run, report: RunReport) -> None:
    """Append the run's class proportions to the history table, when one is configured."""
    if run.cfg.history.enabled:
        with run.timer.stage("history", "appending class proportions to the history table"):
            append_history(spark, run.cfg.history, history_rows(report, run.started))


def _finish(run: _Run, report: RunReport, figures: threading.Thread | None) -> RunReport:
    """Draw the run picture and write the JSON (``report.path``, its ``{run_date}`` filled in), all stages timed."""
    path = report_path(run.cfg.report.path, report.run_dates)
    if path:
        with run.timer.stage("report", "drawing the run picture"):
            if figures is not None:
                figures.join()
            from imbalance_spark.figures.run import plot_run, run_figure_path

            report = dataclasses.replace(report, figures={"run": str(run_figure_path(path))})
            plot_run(report, report.figures["run"])
    # every stage is in the report's times (all but writing the JSON itself)
    report = dataclasses.replace(
        report,
        stages_s={k: round(v, 3) for k, v in run.timer.stages.items()},
        duration_s=round(run.timer.elapsed, 3),
    )
    if path:
        write_json(report.as_dict(), path)
    return report


def _log_mlflow(tracker: MlflowRun, run: _Run, report: RunReport, input_df: DataFrame, output_df: DataFrame) -> None:
    """Log the finished run to its MLflow run: params, metrics, the report, the picture, both tables."""
    log_job_run(
        tracker,
        run.cfg,
        report,
        input_df=input_df,
        output_df=output_df,
        report_file=report_path(run.cfg.report.path, report.run_dates),
    )
