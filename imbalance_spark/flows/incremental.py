"""``run --incremental``: the input read as a Delta stream (AvailableNow), each micro-batch downsampled once.

``run_incremental`` reads as its steps; each micro-batch runs the batch flow's own steps (profile,
plan, guard, sample, weight) and appends idempotently (txnAppId/txnVersion), then its history rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field

from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession

from imbalance_spark import __version__
from imbalance_spark.common.text import one_line
from imbalance_spark.config.models import JobConfig
from imbalance_spark.errors import GuardError, ImbalanceSparkError, InputError, OutputError
from imbalance_spark.flows.batches import BatchResult, batch_guard_problems, date_span, input_versions, sum_plans
from imbalance_spark.flows.steps import (
    RunContext,
    commit_metadata,
    finish_report,
    plan_run,
    table_properties,
    weighted_output,
)
from imbalance_spark.flows.timer import StageTimer
from imbalance_spark.plan import SamplingPlan
from imbalance_spark.profile import profile_classes
from imbalance_spark.read import InputTable, describe_input, read_input
from imbalance_spark.report.build import WriteInfo, build_report, history_rows, report_dates
from imbalance_spark.report.models import IncrementalSection, Lineage, RunReport
from imbalance_spark.tables.commits import CheckpointState, batch_offset, checkpoint_state, query_id, rewrites
from imbalance_spark.tables.delta_log import table_detail
from imbalance_spark.tables.history import append_history
from imbalance_spark.tables.inspect import (
    OutputTable,
    check_column_names,
    check_output,
    check_output_schema,
    check_partition_count,
    describe_output,
)
from imbalance_spark.tables.write import append_delta, create_with_properties, latest_version, set_table_properties
from imbalance_spark.transform import mix_rows, sample_input

log = logging.getLogger(__name__)

# What the Delta streaming source raises at a commit that changed or deleted rows.
_REWRITE_CONDITIONS = ("DELTA_SOURCE_TABLE_IGNORE_CHANGES", "DELTA_SOURCE_IGNORE_DELETE")


@dataclass(frozen=True)
class IncrementalRun:
    """The outcome of ``run --incremental``: the report, or (nothing new) None and the line saying so."""

    report: RunReport | None
    message: str


@dataclass
class _Stream:
    """What the micro-batches of one run share: the run, the checks' findings, and the batches so far."""

    run: RunContext
    source: InputTable
    checkpoint: str
    write_options: dict[str, str]
    properties: dict[str, str]
    app_id: str | None = None
    batches: list[BatchResult] = field(default_factory=list)
    error: BaseException | None = None


def txn_app_id(cfg: JobConfig, checkpoint: str, stream_id: str) -> str:
    """The output's ``txnAppId``: the dataset, its checkpoint path and the stream's id (new after a reset)."""
    place = hashlib.sha256(checkpoint.encode()).hexdigest()[:16]
    return f"imbalance-spark/{cfg.dataset}/{place}/{stream_id}"


def run_incremental(spark: SparkSession, cfg: JobConfig) -> IncrementalRun:
    """Process what is new in the input since the last run: every new commit, once; then stop."""
    run = RunContext(cfg, None, uuid.uuid4().hex[:12], dt.datetime.now(dt.timezone.utc), "append", StageTimer())
    inc = cfg.incremental
    with run.timer.stage("read", f"opening {describe_input(cfg)} as a stream, checkpoint {inc.checkpoint}"):
        source = read_input(spark, cfg)
        state = checkpoint_state(spark, inc.checkpoint)
    found = _check_output(spark, run, source, state)
    if state.fresh and (inc.starting_version or 0) > source.version + 1:
        raise InputError(
            f"incremental.starting_version: {inc.starting_version} is beyond the input's next version"
            f" {source.version + 1} (its latest is {source.version})"
        )
    if state.read_all_of(source.version) or (state.fresh and (inc.starting_version or 0) > source.version):
        return _nothing_new(spark, run, source)
    _refuse_rewrites(spark, cfg, source, state)
    stream = _prepare_output(spark, run, source, found)
    before = latest_version(spark, cfg.output)
    progress = _run_stream(spark, stream, state)
    written = [b for b in stream.batches if not b.replayed]
    if not written:
        return _nothing_new(spark, run, source, replayed=[b.batch_id for b in stream.batches])
    report = _report(spark, stream, written, progress, before, state)
    return IncrementalRun(report, f"{len(written)} micro-batch(es), {report.output.rows:,} rows added")


def _check_output(spark: SparkSession, run: RunContext, source: InputTable, state: CheckpointState) -> OutputTable:
    """Refuse, before the stream starts, an output this checkpoint cannot append to without counting rows twice."""
    cfg, inc = run.cfg, run.cfg.incremental
    with run.timer.stage("output_check", f"looking up the output {describe_output(cfg.output)}"):
        found = check_output(spark, cfg.output, "append")
    out = describe_output(cfg.output)
    if state.fresh and found.exists and inc.starting_version is None and not _is_empty(spark, cfg):
        raise OutputError(
            f"output {out} already exists and incremental.checkpoint {inc.checkpoint} has no progress: a first"
            " incremental run would add rows the output holds already; set incremental.starting_version to the"
            " first input version it does not hold (a batch run's report input_version + 1), or remove the output"
        )
    if not state.fresh and not found.exists:
        raise OutputError(
            f"output {out} does not exist, but incremental.checkpoint {inc.checkpoint} has processed the input up"
            f" to micro-batch {state.last_batch}: the output was removed; delete the checkpoint to rebuild the"
            " output from the whole input"
        )
    return found


def _is_empty(spark: SparkSession, cfg: JobConfig) -> bool:
    """Whether the output holds no row (a first run killed after creating it): nothing can be counted twice."""
    out = cfg.output
    df = spark.read.table(out.table) if out.table is not None else spark.read.format("delta").load(out.path)
    return df.limit(1).count() == 0


def _input_location(spark: SparkSession, cfg: JobConfig) -> str:
    """The input table's folder (a catalog table's location, ``file:`` dropped)."""
    if cfg.input.path is not None:
        return cfg.input.path
    detail = table_detail(spark, cfg.input.table)
    location = detail.location if detail is not None else ""
    return location[len("file:"):] if location.startswith("file:") and "://" not in location else location


def _refuse_rewrites(spark: SparkSession, cfg: JobConfig, source: InputTable, state: CheckpointState) -> None:
    """Refuse an input that rewrote rows since the checkpoint's position (or since starting_version)."""
    inc = cfg.incremental
    if inc.changes == "skip":
        return
    if state.last_offset is not None:
        first = state.last_offset.next_change
    elif state.fresh and inc.starting_version is not None:
        first = inc.starting_version
    else:
        return  # a fresh stream reads the latest snapshot: earlier rewrites are in it
    found = rewrites(spark, _input_location(spark, cfg), first, source.version)
    if found:
        raise _rewrite_error(cfg, found[0].version, found[0].operation)


def _rewrite_error(cfg: JobConfig, version: int | str, operation: str) -> InputError:
    """The one line for an input whose rows were rewritten: what happened, and the two ways on."""
    inc, out = cfg.incremental, describe_output(cfg.output)
    return InputError(
        f"input {describe_input(cfg)}: version {version} ({operation}) changed or deleted rows, which an"
        f" incremental run cannot follow (it reads appends); nothing was written to {out}. Either run a full"
        f" `imbalance-spark run` (it rebuilds the output from the input as it is now), then delete the"
        f" checkpoint {inc.checkpoint} and set incremental.starting_version to that run's input_version + 1;"
        f" or reset: delete the checkpoint and the output and run --incremental again (it reads the whole input)."
        " incremental.changes: skip ignores such commits instead"
    )


def _prepare_output(spark: SparkSession, run: RunContext, source: InputTable, found: OutputTable) -> _Stream:
    """Create the output empty (its properties in that commit) so that every batch is an idempotent append."""
    cfg = run.cfg
    empty_df = weighted_output(cfg, source.df.limit(0), source.df, _no_classes())
    check_column_names(empty_df.schema, cfg.output, found)
    options = check_output_schema(cfg.output, empty_df, "append", found)
    properties = table_properties(cfg, _no_classes(), empty_df.schema)
    if not found.exists:
        with run.timer.stage("create", f"creating the output {describe_output(cfg.output)}"):
            meta = json.dumps({"tool": f"imbalance-spark {__version__}", "run_id": run.run_id, "dataset": cfg.dataset,
                               "incremental": "created"}, separators=(",", ":"))
            create_with_properties(empty_df, cfg.output, meta, properties)
        current = properties
    else:
        current = found.detail.properties
    ours = {k: v for k, v in current.items() if k.startswith("imbalance_spark.")}
    return _Stream(run, source, cfg.incremental.checkpoint, options, ours)


def _no_classes() -> SamplingPlan:
    """A plan without classes: the output's shape and its class-independent properties."""
    return SamplingPlan(classes=(), minority_share=0.0, degree="none")


def _stream_reader(spark: SparkSession, cfg: JobConfig, state: CheckpointState) -> DataFrame:
    """The input as a Delta stream, with the micro-batch limits and where a first run starts."""
    inc = cfg.incremental
    reader = spark.readStream.format("delta").options(**cfg.input.options)
    if inc.max_files_per_batch is not None:
        reader = reader.option("maxFilesPerTrigger", str(inc.max_files_per_batch))
    if inc.max_bytes_per_batch is not None:
        reader = reader.option("maxBytesPerTrigger", str(inc.max_bytes_per_batch))
    if state.fresh and inc.starting_version is not None:
        reader = reader.option("startingVersion", str(inc.starting_version))
    if inc.changes == "skip":
        reader = reader.option("skipChangeCommits", "true")
    return reader.table(cfg.input.table) if cfg.input.table is not None else reader.load(cfg.input.path)


def _run_stream(spark: SparkSession, stream: _Stream, state: CheckpointState) -> list:
    """Run the stream until it has read every commit there now is (AvailableNow); its progress, per batch."""
    cfg = stream.run.cfg

    def each_batch(batch_df: DataFrame, batch_id: int) -> None:
        try:
            _process_batch(spark, stream, batch_df, batch_id)
        except BaseException as exc:  # kept typed: Spark hands the stream's caller a generic error
            stream.error = exc
            raise

    with stream.run.timer.stage("stream", f"processing the new commits of {describe_input(cfg)}"):
        query = (
            _stream_reader(spark, cfg, state).writeStream.foreachBatch(each_batch)
            .option("checkpointLocation", stream.checkpoint).trigger(availableNow=True)
            .queryName(f"imbalance_spark_{cfg.dataset}_{stream.run.run_id}").start()
        )
        try:
            query.awaitTermination()
        except PySparkException as exc:
            if isinstance(stream.error, ImbalanceSparkError):
                raise stream.error from None
            text = str(exc)
            if any(c in text for c in _REWRITE_CONDITIONS):
                version = text.split(" at version ", 1)[1].split(".", 1)[0] if " at version " in text else "?"
                raise _rewrite_error(cfg, version, "a commit that is not an append") from None
            raise
    return list(query.recentProgress)


def _process_batch(spark: SparkSession, stream: _Stream, batch_df: DataFrame, batch_id: int) -> None:
    """One micro-batch: profile, plan, guard, sample, weight, append once, and its history rows."""
    run = stream.run
    cfg = run.cfg
    if stream.app_id is None:
        stream.app_id = txn_app_id(cfg, stream.checkpoint, query_id(spark, stream.checkpoint) or "")
    where = f" in micro-batch {batch_id}"
    profile = profile_classes(batch_df, cfg, where, date_column=cfg.input.date_column, min_classes=0)
    if profile.rows == 0:
        log.info("micro-batch %s: no labelled rows, nothing to write", batch_id)
        return
    check_partition_count(cfg.output, profile.partitions, profile.partitions_by_column)
    plan = plan_run(cfg, profile)
    if cfg.guards.enabled:
        problems = batch_guard_problems(plan, cfg.guards.sigmas)
        if problems:
            raise GuardError(f"sample guard failed{where}, nothing of it written: " + "; ".join(problems))
    output_df = weighted_output(cfg, sample_input(batch_df, cfg, plan), batch_df, plan)
    if cfg.output.row_order == "mixed":  # as a batch run writes its files (transform.mix_rows)
        output_df = output_df.transform(mix_rows, cfg.downsampling.seed, cfg.output.partition_by)
    offset = batch_offset(spark, stream.checkpoint, batch_id)
    lineage = _batch_lineage(run, stream, batch_id, offset.last_read if offset else None, profile.date_span)
    meta = json.loads(commit_metadata(cfg, plan, lineage))
    meta.update(micro_batch=batch_id, txn_app_id=stream.app_id)
    before = latest_version(spark, cfg.output)
    append_delta(output_df, cfg.output, json.dumps(meta, separators=(",", ":")), app_id=stream.app_id,
                 version=batch_id, options=stream.write_options)
    after = latest_version(spark, cfg.output)
    _keep_factor_properties(spark, stream, plan, output_df)
    result = BatchResult(batch_id, plan, profile.null_labels, after == before, lineage.input_version,
                         profile.date_span, after)
    _batch_history(spark, stream, result, lineage)
    stream.batches.append(result)
    log.info("micro-batch %s: %s rows in, %s out%s", batch_id, f"{plan.rows:,}", f"{plan.predicted_rows:,}",
             " (committed by an earlier run: skipped)" if result.replayed else "")


def _batch_lineage(run: RunContext, stream: _Stream, batch_id: int, version: int | None, span) -> Lineage:
    """A micro-batch's lineage: the run's, the last input version it read, its rows' days."""
    cfg = run.cfg
    return Lineage(
        run_id=f"{run.run_id}-b{batch_id}", package_version=__version__, config_file=cfg.source_file,
        config_sha256=cfg.source_sha256, input_source=describe_input(cfg), input_version=version,
        run_dates=report_dates(None, span),
    )


def _keep_factor_properties(spark: SparkSession, stream: _Stream, plan: SamplingPlan, output_df: DataFrame) -> None:
    """Add the factors of classes first seen in this batch to the table's properties (a commit only then)."""
    wanted = {k: v for k, v in table_properties(stream.run.cfg, plan, output_df.schema).items()
              if k.startswith("imbalance_spark.")}
    merged = {**stream.properties, **wanted}
    if merged != stream.properties:
        set_table_properties(spark, stream.run.cfg.output, merged, current=stream.properties)
        stream.properties = merged


def _batch_report(stream: _Stream, plan: SamplingPlan, null_labels: int, lineage: Lineage, version) -> RunReport:
    """A report of one batch (or of the run's sum): the batch flow's own builder."""
    cfg = stream.run.cfg
    return build_report(
        cfg, plan, observed=None, null_labels_dropped=null_labels, lineage=lineage,
        started_at=stream.run.started.isoformat(timespec="seconds"),
        written=WriteInfo(describe_output(cfg.output), version, tuple(cfg.output.partition_by), "append", None),
        stages=stream.run.timer.stages, duration_s=stream.run.timer.elapsed, notes=list(plan.notes),
    )


def _batch_history(spark: SparkSession, stream: _Stream, result: BatchResult, lineage: Lineage) -> None:
    """Append the batch's class rows to the history table, once (the same txnAppId/txnVersion as the output)."""
    history = stream.run.cfg.history
    if history.enabled:
        report = _batch_report(stream, result.plan, result.null_labels, lineage, result.output_version)
        options = {"txnAppId": stream.app_id, "txnVersion": str(result.batch_id)}
        append_history(spark, history, history_rows(report, dt.datetime.now(dt.timezone.utc)), options)


def _report(spark, stream: _Stream, written: list[BatchResult], progress: list, before, state) -> RunReport:
    """The run's report: the written batches summed, and the incremental section."""
    run, cfg = stream.run, stream.run.cfg
    inc = cfg.incremental
    start = inc.starting_version if state.fresh else None
    first, last = input_versions(progress, {b.batch_id for b in written}, start)
    lineage = dataclasses.replace(
        _batch_lineage(run, stream, 0, last, date_span(b.date_span for b in written)), run_id=run.run_id
    )
    plan = sum_plans(b.plan for b in written)
    version = latest_version(spark, cfg.output)
    report = _batch_report(stream, plan, sum(b.null_labels for b in written), lineage, version)
    section = IncrementalSection(
        checkpoint=stream.checkpoint, txn_app_id=stream.app_id or "", batches=len(written),
        batch_ids=[b.batch_id for b in written],
        replayed_batch_ids=[b.batch_id for b in stream.batches if b.replayed],
        input_version_from=first, input_version_to=last, output_version_before=before, changes=inc.changes,
        max_files_per_batch=inc.max_files_per_batch, max_bytes_per_batch=inc.max_bytes_per_batch,
    )
    return finish_report(run, dataclasses.replace(report, incremental=section), None)


def _nothing_new(
    spark: SparkSession, run: RunContext, source: InputTable, replayed: list[int] | None = None
) -> IncrementalRun:
    """The one line of a run that found no new commit: nothing written."""
    cfg = run.cfg
    version = latest_version(spark, cfg.output)
    again = f"; micro-batch(es) {replayed} were committed by an earlier run already" if replayed else ""
    return IncrementalRun(None, one_line(
        f"nothing new in {describe_input(cfg)} since the last run (input version {source.version}, checkpoint"
        f" {cfg.incremental.checkpoint}): output {describe_output(cfg.output)} left at version {version}{again}"
    ))
