"""The evaluate flow: split, sample per F, fit, score, recommend, draw and track.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from imbalance_spark import __version__
from imbalance_spark.common.dates import RunDates
from imbalance_spark.common.files import write_report
from imbalance_spark.config.models import JobConfig
from imbalance_spark.errors import ConfigError, DataFrameMissingColumnError, InputError
from imbalance_spark.evaluate.features import (
    any_null_feature,
    feature_pipeline,
    feature_spec,
    with_feature_columns,
    with_label,
)
from imbalance_spark.evaluate.recommend import recommend_factor
from imbalance_spark.evaluate.split import (
    TEST,
    default_test_from,
    holdout_slice,
    presample,
    train_slice,
    with_date_split,
    with_hash_split,
    with_row_id,
)
from imbalance_spark.evaluate.sweep import Baseline, evaluate_factor, sweep_factors
from imbalance_spark.flows.timer import StageTimer
from imbalance_spark.plan import plan_sampling
from imbalance_spark.profile import ClassProfile, profile_classes
from imbalance_spark.read import describe_input, read_input
from imbalance_spark.transform import (
    column,
)


def output_dir(cfg: JobConfig) -> Path:
    """Where the evaluation's JSON report and figures go."""
    if cfg.evaluate.output_dir:
        return Path(cfg.evaluate.output_dir)
    if cfg.report.path:
        return Path(cfg.report.path).parent / "evaluate"
    return Path("evaluate") / cfg.dataset


def evaluate_job(
    spark: SparkSession,
    cfg: JobConfig,
    dates: RunDates | None = None,
    factors: list[float] | None = None,
    *,
    figures: bool = True,
    mlflow_experiment: str | None = None,
) -> dict[str, Any]:
    """Run the whole evaluation for one dataset config; write and return the report.

    With an MLflow experiment (``mlflow_experiment``, else ``tracking.mlflow.experiment``) the sweep
    is logged there too, as runs are.
    """
    if cfg.evaluate is None:
        raise ConfigError(
            f"{cfg.source_file or 'config'}: evaluate: the config has no evaluate section;"
            " add one with at least `features:` (see docs/choosing-f.md)"
        )
    ev, split = cfg.evaluate, cfg.evaluate.split
    timer = StageTimer()
    factors, configured = sweep_factors(cfg, factors)
    notes: list[str] = []
    out_dir = output_dir(cfg)
    with timer.stage("read", f"opening {describe_input(cfg)}"):
        source = read_input(spark, cfg, dates)
        spec = feature_spec(source.df.schema, cfg)
        input_columns = source.df.columns
    for key in split.key_columns:
        if key not in input_columns:
            raise DataFrameMissingColumnError(f"evaluate.split.key_columns: column {key!r} is not in the input")
    if cfg.null_labels == "drop":
        base = source.df.filter(column(cfg.label_column).isNotNull())
    else:
        base = source.df
    # Read once: every later pass (split counts, profiles, the sweep's samples, the test metrics)
    # comes from this persisted copy.
    level = getattr(StorageLevel, ev.storage_level)
    base_df = base.transform(with_feature_columns, spec).persist(level)
    try:
        report = _evaluate(spark, cfg, dates, source, spec, base_df, factors, configured, input_columns, out_dir,
                           timer, notes)
    finally:
        base_df.unpersist()
    if figures:
        from imbalance_spark.figures.evaluation import draw_evaluation_figures

        with timer.stage("figures", f"drawing figures in {out_dir}"):
            report["figures"] = draw_evaluation_figures(report, out_dir)
    report["stages_s"] = {k: round(v, 3) for k, v in timer.stages.items()}
    report["duration_s"] = round(timer.elapsed, 3)
    write_report(report, str(out_dir / "evaluate.json"))
    experiment = mlflow_experiment or cfg.tracking.mlflow_experiment
    if experiment:
        from imbalance_spark.tracking.runs import log_evaluation

        figure_paths = [p for p in (report.get("figures") or {}).values() if isinstance(p, str)]
        report["mlflow"] = log_evaluation(
            report, figure_paths, experiment, cfg=cfg, input_df=source.df
        )
        write_report(report, str(out_dir / "evaluate.json"))
    return report


def _evaluate(spark, cfg, dates, source, spec, base_df, factors, configured, input_columns, out_dir, timer, notes):
    ev, split = cfg.evaluate, cfg.evaluate.split
    by = cfg.split_by()
    test_from = None
    with timer.stage("split", f"holding out the test slice by {by}"):
        if by == "date":
            test_from = split.test_from
            if test_from is None:
                counts = {
                    r["d"]: int(r["n"])
                    for r in base_df.groupBy(F.to_date(column(cfg.input.date_column)).alias("d"))
                    .agg(F.count(F.lit(1)).alias("n"))
                    .collect()
                    if r["d"] is not None
                }
                test_from = default_test_from(counts, split.test_fraction)
            split_df = base_df.transform(with_date_split, cfg.input.date_column, test_from)
        else:
            split_df = base_df.transform(with_hash_split, split.key_columns, split.seed, split.test_fraction)
        split_df = split_df.withColumn("__null_feature", any_null_feature(spec))
        null_counts = [F.sum(F.when(F.col("__null_feature"), 1).otherwise(0)).alias("rows_with_nulls")]
        null_counts += [
            F.sum(F.when(F.col(internal).isNull(), 1).otherwise(0)).alias(f"null_{internal}")
            for _, internal in spec.all
        ]
        side = {
            r[TEST]: r.asDict()
            for r in split_df.groupBy(TEST).agg(F.count(F.lit(1)).alias("rows"), *null_counts).collect()
        }
    train_side, test_side = side.get(False), side.get(True)
    if not test_side or not train_side:
        empty = "test" if not test_side else "train"
        how = f"test_from {test_from}" if by == "date" else f"test_fraction {split.test_fraction}"
        raise InputError(f"evaluate.split: the {empty} slice is empty with split.by {by}, {how}")
    null_rows = {"train": int(train_side["rows_with_nulls"] or 0), "test": int(test_side["rows_with_nulls"] or 0)}
    by_column = {
        name: int(train_side[f"null_{internal}"] or 0) + int(test_side[f"null_{internal}"] or 0)
        for name, internal in spec.all
    }
    if ev.nulls == "drop":
        split_df = split_df.filter(~F.col("__null_feature"))
    train_df, test_df = train_slice(split_df), holdout_slice(split_df)
    train_rows_before = int(train_side["rows"]) - (null_rows["train"] if ev.nulls == "drop" else 0)
    presampled = None
    if split.train_max_rows is not None and train_rows_before > split.train_max_rows:
        fraction = split.train_max_rows / train_rows_before
        train_df = train_df.transform(presample, fraction, split.seed, split.key_columns)
        presampled = {"max_rows": split.train_max_rows, "rows_before": train_rows_before, "fraction": fraction}
        notes.append(
            f"train slice pre-sampled uniformly to ~{split.train_max_rows:,} of {train_rows_before:,} rows"
            f" (fraction {fraction:.4g}, seed {split.seed}) so that F = 1 trains; the test slice is whole"
        )

    with timer.stage("profile", "counting classes of the train and test slices"):
        train_profile = profile_classes(train_df, cfg, " in the train slice")
        test_profile = profile_classes(test_df, cfg, " in the test slice")
    positive = [c for c in plan_sampling(train_profile, cfg).classes if c.role == "minority"]
    if not positive:
        raise InputError("evaluate: no minority class occurs in the train slice")
    positive_values = [c.value for c in positive]
    positive_keys = [c.key for c in positive]
    if len(train_profile.classes) > 2:
        notes.append(
            f"{len(train_profile.classes)} classes: the model predicts minority {positive_keys} against the rest"
        )
    train_df = train_df.transform(with_label, cfg.label_column, positive_values)
    # The bootstrap's row id: the key when one is configured, else the row's content.
    id_columns = list(split.key_columns) or input_columns
    test_df = test_df.transform(with_label, cfg.label_column, positive_values).transform(with_row_id, id_columns)
    with timer.stage("features", f"fitting the feature stages on the train slice ({len(spec.all)} feature(s))"):
        features_model = feature_pipeline(spec).fit(train_df)
        train_df = features_model.transform(train_df)
        test_df = features_model.transform(test_df)

    test_positives = sum(c.count for c in test_profile.classes if c.key in positive_keys)
    sample_dir = out_dir / "_samples"
    sweep = []
    baseline: Baseline | None = None
    # F = 1 comes first (sweep_factors sorts it in): its scored test rows are every later F's pair.
    assert factors[0] == 1.0, factors
    with timer.stage("sweep", f"sampling and training at F = {', '.join(f'{f:g}' for f in factors)}"):
        try:
            for factor in factors:
                point, created = evaluate_factor(
                    spark, cfg, factor, train_df, test_df, input_columns, sample_dir, baseline, test_profile.rows
                )
                baseline = baseline or created
                sweep.append(point)
        finally:
            shutil.rmtree(sample_dir, ignore_errors=True)
            if baseline is not None:
                baseline.scored_df.unpersist()

    recommendation = recommend_factor(
        sweep,
        test_positives,
        tolerance=ev.tolerance,
        calibration_tolerance=ev.calibration_tolerance,
        min_test_positives=ev.min_test_positives,
    )
    reliability_factor = configured if configured is not None else (recommendation["factor"] or factors[-1])
    test_rows = test_profile.rows
    return {
        "kind": "evaluate",
        "dataset": cfg.dataset,
        "package_version": __version__,
        "config_file": cfg.source_file,
        "config_sha256": cfg.source_sha256,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "label_column": cfg.label_column,
        "positive_classes": positive_keys,
        "model": ev.model,
        "method": cfg.downsampling.method,
        "seed": cfg.downsampling.seed,
        "weight_column": cfg.weight.column,
        "input": {
            "source": describe_input(cfg),
            "version": source.version,
            "run_dates": str(dates) if dates else None,
            "read_once": True,
            "storage_level": ev.storage_level,
            "persisted": f"the input is read once and persisted ({ev.storage_level}) for the split, profiles and sweep",
        },
        "split": {
            "by": by,
            "test_from": test_from.isoformat() if test_from else None,
            "test_fraction": split.test_fraction if by == "hash" else None,
            "key_columns": list(split.key_columns),
            "seed": split.seed,
            "train_presample": presampled,
        },
        "features": {
            "numeric": [name for name, _ in spec.numeric],
            "categorical": [name for name, _ in spec.categorical],
            "nulls": {
                "policy": ev.nulls,
                "rows_with_nulls": null_rows,
                "by_column": by_column,
                "dropped": (null_rows["train"] + null_rows["test"]) if ev.nulls == "drop" else 0,
                "how": "rows dropped" if ev.nulls == "drop" else "numbers: train mean; strings: own category",
            },
        },
        "train": {"rows": train_profile.rows, "classes": _profile_table(train_profile, positive_keys)},
        "test": {
            "rows": test_rows,
            "positives": test_positives,
            "base_rate": test_positives / test_rows if test_rows else None,
            "classes": _profile_table(test_profile, positive_keys),
        },
        "factors": factors,
        "configured_factor": configured,
        "reliability_factor": reliability_factor,
        "tolerance": ev.tolerance,
        "calibration_tolerance": ev.calibration_tolerance,
        "bins": ev.bins,
        "bootstrap": {
            "replicates": ev.bootstrap_replicates,
            "seed": ev.bootstrap_seed,
            "score_bins": ev.score_bins,
            "row_id": (f"hash of the key {list(split.key_columns)}" if split.key_columns
                       else "hash of every input column"),
            "interval": "95%: MLlib's relative PR-AUC difference to F = 1"
            " +- 1.96 paired Poisson-bootstrap standard errors",
        },
        "sweep": sweep,
        "recommendation": recommendation,
        "notes": notes,
    }


def _profile_table(profile: ClassProfile, positive_keys: list[str]) -> dict[str, dict[str, Any]]:
    return {
        c.key: {"role": "minority" if c.key in positive_keys else "majority", "count": c.count,
                "weight_sum": c.weight_sum}
        for c in profile.classes
    }
