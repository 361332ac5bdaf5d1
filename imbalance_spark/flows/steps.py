"""The steps both flows share (flows/run.py, flows/incremental.py): a run's context and lineage, the
commit's metadata and table properties, the plan, the weighted output and the finished report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from imbalance_spark import __version__
from imbalance_spark.common.dates import RunDates
from imbalance_spark.common.files import write_json
from imbalance_spark.config.models import JobConfig
from imbalance_spark.flows.timer import StageTimer
from imbalance_spark.plan import SamplingPlan, plan_sampling
from imbalance_spark.profile import ClassProfile
from imbalance_spark.read import InputTable, describe_input
from imbalance_spark.report.build import report_dates, report_path
from imbalance_spark.report.models import Lineage, RunReport
from imbalance_spark.tables.write import cdf_property, stats_property
from imbalance_spark.transform import select_output, with_plan_weight

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    """What every step of one run shares: its config, dates, id, start, write mode and timer."""

    cfg: JobConfig
    dates: RunDates | None
    run_id: str
    started: dt.datetime
    mode: str
    timer: StageTimer


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


def plan_run(cfg: JobConfig, profile: ClassProfile) -> SamplingPlan:
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


def weighted_output(cfg: JobConfig, sample_df: DataFrame, input_df: DataFrame, plan: SamplingPlan) -> DataFrame:
    """The sample with its example weight (per class, or per class x stratum), in the output's column order."""
    weighted_df = sample_df.transform(with_plan_weight, cfg, plan)
    return weighted_df.transform(select_output, input_df.columns, cfg.weight.column)


def warm_up_figures() -> threading.Thread:
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


def finish_report(run: RunContext, report: RunReport, figures: threading.Thread | None) -> RunReport:
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
