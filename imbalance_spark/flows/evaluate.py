"""The evaluate flow: read, hold out, profile, fit features, sweep F, recommend, draw, write and track.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from imbalance_spark.common.dates import RunDates
from imbalance_spark.common.files import write_report
from imbalance_spark.config.models import JobConfig
from imbalance_spark.errors import ConfigError, DataFrameMissingColumnError, InputError
from imbalance_spark.evaluate.build import Slices, build_evaluation_report
from imbalance_spark.evaluate.calibration import check_segments, with_calibration_groups
from imbalance_spark.evaluate.features import (
    FeatureSpec,
    feature_pipeline,
    feature_spec,
    with_feature_columns,
    with_label,
)
from imbalance_spark.evaluate.fit import require_model_package
from imbalance_spark.evaluate.holdout import HeldOut, hold_out, presampled
from imbalance_spark.evaluate.recommend import recommend_factor
from imbalance_spark.evaluate.report import EvaluationReport, Recommendation, SweepPoint
from imbalance_spark.evaluate.split import with_row_id
from imbalance_spark.evaluate.sweep import Baseline, SampleSize, SweepInputs, evaluate_factor, sweep_factors
from imbalance_spark.flows.timer import StageTimer
from imbalance_spark.plan import plan_sampling
from imbalance_spark.profile import profile_classes
from imbalance_spark.read import InputTable, describe_input, read_input
from imbalance_spark.transform import column


def output_dir(cfg: JobConfig) -> Path:
    """Where the evaluation's JSON report and figures go."""
    if cfg.evaluate.output_dir:
        return Path(cfg.evaluate.output_dir)
    if cfg.report.path:
        return Path(cfg.report.path).parent / "evaluate"
    return Path("evaluate") / cfg.dataset


@dataclass
class EvaluateRun:
    """What the steps of one evaluation hand each other; each step fills in its part."""

    spark: SparkSession
    cfg: JobConfig
    dates: RunDates | None
    factors: list[float]
    configured: float | None
    out_dir: Path
    timer: StageTimer = field(default_factory=StageTimer)
    notes: list[str] = field(default_factory=list)
    source: InputTable | None = None
    spec: FeatureSpec | None = None
    base_df: DataFrame | None = None  # the input read once, persisted
    held: HeldOut | None = None
    slices: Slices | None = None
    train_df: DataFrame | None = None  # labelled, with features
    test_df: DataFrame | None = None
    sweep: list[SweepPoint] = field(default_factory=list)
    recommendation: Recommendation | None = None


def evaluate_job(
    spark: SparkSession,
    cfg: JobConfig,
    dates: RunDates | None = None,
    factors: list[float] | None = None,
    *,
    figures: bool = True,
    mlflow_experiment: str | None = None,
) -> EvaluationReport:
    """Run the whole evaluation for one dataset config; write and return the report.

    With an MLflow experiment (``mlflow_experiment``, else ``tracking.mlflow.experiment``) the sweep
    is logged there too, as runs are.
    """
    _require_evaluate_section(cfg)
    require_model_package(cfg.evaluate, cfg.source_file or "config")
    factors, configured = sweep_factors(cfg, factors)
    run = EvaluateRun(spark, cfg, dates, factors, configured, output_dir(cfg))
    _run_step(run, "read")
    try:
        for name in ("split", "profile", "features", "sweep", "recommend"):
            _run_step(run, name)
        report = _report(run)
    finally:
        run.base_df.unpersist()
    if figures:
        report = _draw(run, report)
    report = _write(run, report)
    return _track(run, report, mlflow_experiment or cfg.tracking.mlflow_experiment)


def _require_evaluate_section(cfg: JobConfig) -> None:
    if cfg.evaluate is None:
        raise ConfigError(
            f"{cfg.source_file or 'config'}: evaluate: the config has no evaluate section;"
            " add one with at least `features:` (see docs/choosing-f.md)"
        )


def _run_step(run: EvaluateRun, name: str) -> None:
    """Run one named step as a stage of the timer: every second of a step is in the report."""
    what, step = STEPS[name]
    with run.timer.stage(name, what(run)):
        step(run)


def _read(run: EvaluateRun) -> None:
    """Open the input, sort the features, and persist it once with the feature columns."""
    cfg = run.cfg
    run.source = read_input(run.spark, cfg, run.dates)
    run.spec = feature_spec(run.source.df.schema, cfg)
    for key in cfg.evaluate.split.key_columns:
        if key not in run.source.df.columns:
            raise DataFrameMissingColumnError(f"evaluate.split.key_columns: column {key!r} is not in the input")
    base = run.source.df
    if cfg.null_labels == "drop":
        base = base.filter(column(cfg.label_column).isNotNull())
    # Read once: every later pass (split counts, profiles, the sweep's samples, the test metrics)
    # comes from this persisted copy.
    level = getattr(StorageLevel, cfg.evaluate.storage_level)
    run.base_df = base.transform(with_feature_columns, run.spec).persist(level)


def _hold_out(run: EvaluateRun) -> None:
    """Hold the test slice out (and pre-sample a train slice over ``split.train_max_rows``)."""
    held = presampled(hold_out(run.base_df, run.cfg, run.spec), run.cfg)
    if held.presample is not None:
        p = held.presample
        run.notes.append(
            f"train slice pre-sampled uniformly to ~{p.max_rows:,} of {p.rows_before:,} rows"
            f" (fraction {p.fraction:.4g}, seed {run.cfg.evaluate.split.seed}) so that F = 1 trains;"
            " the test slice is whole"
        )
    run.held = held


def _profile(run: EvaluateRun) -> None:
    """Count each slice's classes; the minority classes are the model's positives."""
    cfg, held = run.cfg, run.held
    train_profile = profile_classes(held.train_df, cfg, " in the train slice")
    test_profile = profile_classes(held.test_df, cfg, " in the test slice")
    positive = [c for c in plan_sampling(train_profile, cfg).classes if c.role == "minority"]
    if not positive:
        raise InputError("evaluate: no minority class occurs in the train slice")
    keys = tuple(c.key for c in positive)
    if len(train_profile.classes) > 2:
        run.notes.append(
            f"{len(train_profile.classes)} classes: the model predicts minority {list(keys)} against the rest"
        )
    run.slices = Slices(held, train_profile, test_profile, keys)
    values = [c.value for c in positive]
    # The bootstrap's row id: the key when one is configured, else the row's content.
    id_columns = list(cfg.evaluate.split.key_columns) or run.source.df.columns
    run.train_df = held.train_df.transform(with_label, cfg.label_column, values)
    run.test_df = held.test_df.transform(with_label, cfg.label_column, values).transform(with_row_id, id_columns)
    check_segments(run.test_df, cfg)  # before any fit: a segment column with too many values is refused
    run.test_df = run.test_df.transform(with_calibration_groups, cfg)


def _fit_features(run: EvaluateRun) -> None:
    """Fit the feature stages on the train slice; apply them to both slices."""
    model = feature_pipeline(run.spec).fit(run.train_df)
    run.train_df, run.test_df = model.transform(run.train_df), model.transform(run.test_df)


def _sweep(run: EvaluateRun) -> None:
    """Sample, fit and score at every F; F = 1 first, its scored test rows pair every later F."""
    factors = run.factors
    assert factors[0] == 1.0, factors  # sweep_factors sorts it in
    inputs = SweepInputs(run.cfg, run.train_df, run.test_df, run.source.df.columns,
                         SampleSize(run.out_dir / "_samples"), run.slices.test_profile.rows)
    baseline: Baseline | None = None
    try:
        for factor in factors:
            point, created = evaluate_factor(inputs, factor, baseline)
            baseline = baseline or created
            run.sweep.append(point)
        if len(factors) > 1:
            run.notes.append("sample_bytes measured at F = 1 (written as Delta); at the other factors estimated"
                             " from its bytes per row")
    finally:
        shutil.rmtree(inputs.sample_size.directory, ignore_errors=True)
        if baseline is not None:
            baseline.scored_df.unpersist()


def _recommend(run: EvaluateRun) -> None:
    """The largest F shown to keep PR-AUC and calibration (plain Python over the sweep)."""
    ev = run.cfg.evaluate
    run.recommendation = recommend_factor(
        run.sweep, run.slices.test_positives, tolerance=ev.tolerance,
        calibration_tolerance=ev.calibration_tolerance, min_test_positives=ev.min_test_positives,
    )


# Each step: what the log says as it starts, and the function; in the order the flow runs them.
STEPS: dict[str, tuple[Callable[[EvaluateRun], str], Callable[[EvaluateRun], None]]] = {
    "read": (lambda run: f"opening {describe_input(run.cfg)}", _read),
    "split": (lambda run: f"holding out the test slice by {run.cfg.split_by()}", _hold_out),
    "profile": (lambda run: "counting classes of the train and test slices", _profile),
    "features": (lambda run: f"fitting the feature stages on the train slice ({len(run.spec.all)} feature(s))",
                 _fit_features),
    "sweep": (lambda run: f"sampling and training at F = {', '.join(f'{f:g}' for f in run.factors)}", _sweep),
    "recommend": (lambda run: "choosing F from the sweep", _recommend),
}


def _report(run: EvaluateRun) -> EvaluationReport:
    return build_evaluation_report(
        cfg=run.cfg, dates=run.dates, input_version=run.source.version, spec=run.spec, slices=run.slices,
        factors=run.factors, configured=run.configured, sweep=run.sweep, recommendation=run.recommendation,
        notes=run.notes,
    )


def _draw(run: EvaluateRun, report: EvaluationReport) -> EvaluationReport:
    from imbalance_spark.figures.evaluation import draw_evaluation_figures

    with run.timer.stage("figures", f"drawing figures in {run.out_dir}"):
        figures = draw_evaluation_figures(report, run.out_dir)
    return dataclasses.replace(report, figures=figures)


def _write(run: EvaluateRun, report: EvaluationReport) -> EvaluationReport:
    """Add where the time went (every stage, and what none accounts for) and write evaluate.json."""
    stages = {k: round(v, 3) for k, v in run.timer.stages.items()}
    duration = round(run.timer.elapsed, 3)
    report = dataclasses.replace(report, stages_s=stages, duration_s=duration,
                                 unaccounted_s=round(max(0.0, duration - sum(stages.values())), 3))
    write_report(report.to_dict(), str(run.out_dir / "evaluate.json"))
    return report


def _track(run: EvaluateRun, report: EvaluationReport, experiment: str | None) -> EvaluationReport:
    if not experiment:
        return report
    from imbalance_spark.tracking.runs import log_evaluation

    where = log_evaluation(report, list((report.figures or {}).values()), experiment, cfg=run.cfg,
                           input_df=run.source.df)
    report = dataclasses.replace(report, mlflow=where)
    write_report(report.to_dict(), str(run.out_dir / "evaluate.json"))
    return report
