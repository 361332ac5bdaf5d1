"""The job flow: config -> read -> profile -> plan -> transform -> write -> report.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql.types import DoubleType, StructField, StructType

from imbalance_spark import __version__
from imbalance_spark.common.dates import RunDates
from imbalance_spark.common.files import write_report
from imbalance_spark.config.models import JobConfig
from imbalance_spark.errors import GuardError
from imbalance_spark.flows.profile import _slice_text, profile_input
from imbalance_spark.flows.timer import StageTimer
from imbalance_spark.plan import SamplingPlan, check_guards, plan_sampling
from imbalance_spark.profile import kept_by_class
from imbalance_spark.read import InputTable, describe_input, read_input
from imbalance_spark.report.build import build_report, history_rows
from imbalance_spark.tables.history import append_history
from imbalance_spark.tables.inspect import (
    check_column_names,
    check_output,
    check_output_schema,
    check_partition_count,
    describe_output,
    replace_where,
    resolve_output_mode,
)
from imbalance_spark.tables.write import latest_version, stats_property, write_delta
from imbalance_spark.tracking.runs import log_job_run, require_mlflow, resolve_experiment, start_job_run
from imbalance_spark.transform import observe_output, sample_input, select_output, with_example_weight

log = logging.getLogger(__name__)


def run_info(cfg: JobConfig, source: InputTable, run_id: str, run_date: dt.date) -> dict[str, Any]:
    """Lineage of a run: what it read (pinned version), with which config, for which dates."""
    return {
        "run_id": run_id,
        "package_version": __version__,
        "config_file": cfg.source_file,
        "config_sha256": cfg.source_sha256,
        "input_source": describe_input(cfg),
        "input_version": source.version,
        "run_dates": {
            "start": (source.dates.start if source.dates else run_date).isoformat(),
            "end": (source.dates.end if source.dates else run_date).isoformat(),
            "sliced": source.dates is not None,
        },
    }


def commit_metadata(cfg: JobConfig, plan: SamplingPlan, lineage: dict[str, Any]) -> str:
    """The compact JSON of the run stored in the Delta commit's userMetadata."""
    return json.dumps(
        {
            "tool": f"imbalance-spark {lineage['package_version']}",
            "run_id": lineage["run_id"],
            "dataset": cfg.dataset,
            "input": lineage["input_source"],
            "input_version": lineage["input_version"],
            "run_dates": lineage["run_dates"],
            "config_sha256": lineage["config_sha256"],
            "method": cfg.downsampling.method,
            "seed": cfg.downsampling.seed,
            "factors": {c.key: c.factor for c in plan.classes if c.downsampled},
            "weight_mode": cfg.weight.mode,
            "rows_in": plan.rows,
            "rows_out": plan.predicted_rows,
            "in": {c.key: c.count for c in plan.classes},
            "out": {c.key: c.predicted_kept for c in plan.classes},
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
        if c.downsampled:
            props[f"imbalance_spark.factor.{c.key}"] = repr(c.factor)
            props[f"imbalance_spark.logit_offset.{c.key}"] = repr(c.logit_offset)
    explicit = isinstance(cfg.output.stats_columns, list)
    return {**props, **stats_property(cfg.stats_columns(), explicit, schema)}


def _warm_up_figures() -> threading.Thread:
    """Import matplotlib in the background while Spark works (a cold import costs ~1 s at the end)."""

    def load() -> None:
        try:
            import matplotlib.figure  # noqa: F401
            from matplotlib.backends import backend_agg  # noqa: F401
        except Exception:  # the picture's own call reports any problem
            pass

    thread = threading.Thread(target=load, name="imbalance-spark-figures", daemon=True)
    thread.start()
    return thread


def run_job(
    spark: SparkSession,
    cfg: JobConfig,
    dates: RunDates | None = None,
    *,
    sample_hook: Callable[[DataFrame], DataFrame] | None = None,
    mlflow_experiment: str | None = None,
) -> dict[str, Any]:
    """Run the whole job for one dataset config (and optionally one date slice); return the report.

    ``sample_hook`` transforms the sample before the guards (a test seam to force a failure).
    ``mlflow_experiment`` (else ``tracking.mlflow.experiment``) records the run in MLflow.
    """
    experiment = resolve_experiment(mlflow_experiment, cfg)
    if experiment:
        require_mlflow()
    timer = StageTimer()
    run_id = uuid.uuid4().hex[:12]
    now = dt.datetime.now(dt.timezone.utc)
    mode = resolve_output_mode(cfg.output, dates)
    figures = _warm_up_figures() if cfg.report.path else None
    with timer.stage("read", f"opening {describe_input(cfg)}{_slice_text(dates)}"):
        source = read_input(spark, cfg, dates)
    with timer.stage("output_check", f"looking up the output {describe_output(cfg.output)}"):
        found = check_output(spark, cfg.output, mode)
        out_schema = StructType([*source.df.schema.fields, StructField(cfg.weight.column, DoubleType())])
        check_column_names(out_schema, cfg.output, found)
    input_df = source.df
    lineage = run_info(cfg, source, run_id, now.date())
    with timer.stage("profile", f"counting classes of {cfg.label_column!r} (label column only)"):
        profile = profile_input(source, cfg, dates)
    check_partition_count(cfg.output, profile.partitions, profile.partitions_by_column)
    plan = plan_sampling(profile, cfg)
    log.info(
        "plan: %s imbalance, minority %s, factors %s%s",
        plan.degree,
        plan.minority_keys,
        {c.key: c.factor for c in plan.classes},
        f" (skipped: {plan.skipped})" if plan.skipped else "",
    )

    sample_df = sample_input(input_df, cfg, plan)
    if sample_hook is not None:
        sample_df = sample_df.transform(sample_hook)
    if sample_hook is not None or not plan.kept_known:
        with timer.stage("check", "counting the sample per class (label/key columns only)"):
            plan = plan.with_kept(kept_by_class(sample_df, cfg))
    if cfg.guards.enabled:
        problems = check_guards(plan, cfg.guards.sigmas)
        if problems:
            raise GuardError(
                f"sample guard failed, nothing written to {describe_output(cfg.output)}: " + "; ".join(problems)
            )

    output_df = sample_df.transform(
        with_example_weight,
        cfg.label_column,
        plan.multipliers,
        cfg.weight.column,
        cfg.weight.source_column,
    ).transform(select_output, input_df.columns, cfg.weight.column)
    write_options = check_output_schema(spark, cfg.output, output_df, mode, found)
    where = replace_where(output_df, cfg.input.date_column, dates) if mode == "replace_slice" else None
    # A new table is created with CREATE TABLE ... AS SELECT (to carry its properties in the same
    # commit), and a catalog table is written through its catalog: neither delivers observed
    # metrics, so the checked counts stand for them there.
    observed_write = found.exists and cfg.output.table is None
    observation = Observation(f"imbalance_spark_{run_id}") if observed_write else None
    if observation is not None:
        keys = [c.key for c in plan.classes]
        output_df = output_df.transform(observe_output, observation, cfg.label_column, keys, cfg.weight.column)
    with timer.stage("write", f"writing Delta ({mode}) to {describe_output(cfg.output)}{_slice_text(dates)}"):
        write_delta(
            output_df,
            cfg.output,
            commit_metadata(cfg, plan, lineage),
            table_properties(cfg, plan, output_df.schema),
            mode=mode,
            where=where,
            options=write_options,
            found=found,
        )
        observed = observation.get if observation is not None else None
    with timer.stage("version", "looking up the version written"):
        version = latest_version(spark, cfg.output)

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
    run = {
        **lineage,
        "started_at": now.isoformat(timespec="seconds"),
        "output_info": {
            "target": describe_output(cfg.output),
            "version": version,
            "partition_by": list(cfg.output.partition_by),
            "mode": mode,
            "replace_where": where,
        },
    }
    report = build_report(
        cfg,
        plan,
        observed=observed,
        null_labels_dropped=profile.null_labels,
        run=run,
        stages=timer.stages,
        duration_s=timer.elapsed,
    )
    report["notes"] = notes
    if cfg.history.enabled:
        with timer.stage("history", "appending class proportions to the history table"):
            append_history(spark, cfg.history, history_rows(report, now))
    tracker = start_job_run(experiment, cfg, report) if experiment else None
    if tracker is not None:
        report["mlflow"] = tracker.summary()
    if cfg.report.path:
        with timer.stage("report", "drawing the run picture"):
            if figures is not None:
                figures.join()
            from imbalance_spark.figures.run import plot_run, run_figure_path

            report["figures"] = {"run": str(run_figure_path(cfg.report.path))}
            plot_run(report, report["figures"]["run"])
    # every stage is in the report's times (all but writing the JSON itself)
    report["stages_s"] = {k: round(v, 3) for k, v in timer.stages.items()}
    report["duration_s"] = round(timer.elapsed, 3)
    if cfg.report.path:
        write_report(report, cfg.report.path)
    if tracker is not None:
        log_job_run(tracker, cfg, report, input_df=input_df, output_df=output_df)
    return report
