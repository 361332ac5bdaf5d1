"""Evidence for F: train a model on the job's own sample at several factors, measure it on held-out rows.

read (once, persisted) -> split (before any sampling) -> features -> per F: profile -> plan -> sample
-> weight (the functions ``run`` uses) -> fit three ways -> metrics on the untouched test slice -> recommend.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.ml import Pipeline
from pyspark.ml.classification import GBTClassifier, LogisticRegression
from pyspark.ml.feature import Imputer, OneHotEncoder, StringIndexer, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from imbalance_spark import __version__
from imbalance_spark.config import EvaluateConfig, JobConfig, RunDates
from imbalance_spark.errors import ConfigError, DataFrameMissingColumnError, InputError
from imbalance_spark.metrics import (
    BASELINE_BIN,
    LABEL,
    ROW_ID,
    SAME_MODEL,
    SCORE,
    SCORE_BIN,
    paired_pr_auc_bootstrap,
    pr_auc_comparison,
    prediction_metrics,
    recommend_factor,
    with_score_bin,
)
from imbalance_spark.pipeline import StageTimer, sample_input
from imbalance_spark.plan import SamplingPlan, plan_sampling
from imbalance_spark.profile import ClassProfile, profile_classes
from imbalance_spark.read import NUMERIC_TYPES, describe_input, read_input
from imbalance_spark.report import write_report
from imbalance_spark.transform import (
    column,
    hash_uniform,
    label_key_column,
    select_output,
    value_by_class,
    with_example_weight,
)

log = logging.getLogger(__name__)

TEST = "__is_test"
FEATURES = "__features"
BASELINE_SCORE = "__p_1"
VARIANTS = ("weighted", "unweighted", "king_zeng")


# --- features -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureSpec:
    """The configured features by kind, each with the internal column name MLlib stages see."""

    numeric: tuple[tuple[str, str], ...]
    categorical: tuple[tuple[str, str], ...]

    @property
    def all(self) -> tuple[tuple[str, str], ...]:
        return self.numeric + self.categorical


def feature_spec(schema: T.StructType, cfg: JobConfig) -> FeatureSpec:
    """Sort the configured features into numeric and categorical; one-line errors for unusable ones."""
    fields = {f.name: f for f in schema.fields}
    numeric, categorical = [], []
    for i, name in enumerate(cfg.evaluate.features):
        if name not in fields:
            raise DataFrameMissingColumnError(
                f"evaluate.features: column {name!r} is not in input {describe_input(cfg)}"
                f" (columns: {', '.join(fields)})"
            )
        dtype = fields[name].dataType
        # Internal names: MLlib stages resolve column names themselves, and a dot would read as a path.
        if isinstance(dtype, (*NUMERIC_TYPES, T.BooleanType)):
            numeric.append((name, f"__num_{i}"))
        elif isinstance(dtype, T.StringType):
            categorical.append((name, f"__cat_{i}"))
        else:
            raise InputError(
                f"evaluate.features: column {name!r} has type {dtype.simpleString()};"
                " expected a number or boolean (used as is) or a string (one-hot encoded)"
            )
    return FeatureSpec(tuple(numeric), tuple(categorical))


def with_feature_columns(df: DataFrame, spec: FeatureSpec) -> DataFrame:
    """Copy each feature to its internal column: numbers and booleans as double, strings as they are."""
    cols = [column(name).cast("double").alias(internal) for name, internal in spec.numeric]
    cols += [column(name).alias(internal) for name, internal in spec.categorical]
    return df.select("*", *cols)


def any_null_feature(spec: FeatureSpec) -> Column:
    """True where at least one feature is null (or a numeric feature is NaN)."""
    cond = F.lit(False)
    for _, internal in spec.numeric:
        cond = cond | F.col(internal).isNull() | F.isnan(F.col(internal))
    for _, internal in spec.categorical:
        cond = cond | F.col(internal).isNull()
    return cond


def feature_pipeline(spec: FeatureSpec) -> Pipeline:
    """MLlib stages: impute numbers (train mean), index + one-hot strings (unseen and null kept), assemble."""
    stages: list[Any] = []
    inputs: list[str] = []
    if spec.numeric:
        numeric = [internal for _, internal in spec.numeric]
        imputed = [f"{c}_imputed" for c in numeric]
        stages.append(Imputer(inputCols=numeric, outputCols=imputed, strategy="mean"))
        inputs += imputed
    if spec.categorical:
        cats = [internal for _, internal in spec.categorical]
        indexed, encoded = [f"{c}_index" for c in cats], [f"{c}_onehot" for c in cats]
        # handleInvalid keep: a category unseen in training (or a null) gets its own slot, not an error.
        stages.append(StringIndexer(inputCols=cats, outputCols=indexed, handleInvalid="keep"))
        stages.append(OneHotEncoder(inputCols=indexed, outputCols=encoded, handleInvalid="keep"))
        inputs += encoded
    stages.append(VectorAssembler(inputCols=inputs, outputCol=FEATURES))
    return Pipeline(stages=stages)


# --- split ----------------------------------------------------------------------------------------


def on_or_after(df: DataFrame, date_column: str, day: dt.date) -> Column:
    """True for rows whose date column is on or after ``day`` (date, timestamp or ISO string)."""
    c = column(date_column)
    dtype = df.schema[date_column].dataType
    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType)):
        return c >= F.lit(day.isoformat()).cast(dtype)
    if isinstance(dtype, T.DateType):
        return c >= F.lit(day)
    return c >= F.lit(day.isoformat())


def with_date_split(df: DataFrame, date_column: str, test_from: dt.date) -> DataFrame:
    """Flag rows on or after ``test_from`` as test: later days validate a model trained on earlier ones."""
    # a null date is never test (and never train: see train_slice)
    return df.withColumn(TEST, on_or_after(df, date_column, test_from))


def with_hash_split(df: DataFrame, key_columns: list[str], seed: int, test_fraction: float) -> DataFrame:
    """Flag a ``test_fraction`` of rows as test by a hash of their key: the same rows whatever the partitioning."""
    return df.withColumn(TEST, hash_uniform(key_columns, seed) < F.lit(float(test_fraction)))


def train_slice(df: DataFrame) -> DataFrame:
    """The rows the sweep samples and trains on."""
    return df.filter(F.col(TEST) == F.lit(False))


def holdout_slice(df: DataFrame) -> DataFrame:
    """The held-out rows, at the true distribution: never sampled."""
    return df.filter(F.col(TEST) == F.lit(True))


def presample(df: DataFrame, fraction: float, seed: int, key_columns: list[str]) -> DataFrame:
    """A uniform pre-sample of the train slice (by key hash when keys are known: partition-proof)."""
    u = hash_uniform(key_columns, seed + 1) if key_columns else F.rand(seed)
    return df.filter(u < F.lit(float(fraction)))


def default_test_from(day_counts: dict[dt.date, int], test_fraction: float) -> dt.date:
    """The earliest day such that it and the later days hold about ``test_fraction`` of the rows."""
    days = sorted(day_counts)
    if len(days) < 2:
        raise InputError(
            f"evaluate.split: the input has {len(days)} distinct date(s); a date split needs at least two"
            " (or use split.by: hash)"
        )
    total, tail = sum(day_counts.values()), 0
    for day in reversed(days[1:]):
        tail += day_counts[day]
        if tail >= test_fraction * total:
            return day
    return days[1]


def with_row_id(df: DataFrame, columns: list[str]) -> DataFrame:
    """A row id for the bootstrap: a hash of the row's key (or content), the same whatever the partitioning."""
    # Spark does not hash maps (or variants): a row's other columns identify it.
    hashable = [c for c in columns if not isinstance(df.schema[c].dataType, (T.MapType, T.VariantType))]
    return df.withColumn(ROW_ID, F.xxhash64(*[column(c) for c in hashable or columns]))


def with_label(df: DataFrame, label_column: str, positive_values: list[Any]) -> DataFrame:
    """Add the model's 0/1 label: 1.0 for the minority (positive) classes."""
    positive = {v: 1.0 for v in positive_values}
    return df.withColumn(LABEL, value_by_class(label_key_column(df, label_column), positive, 0.0))


# --- the sweep ------------------------------------------------------------------------------------


def config_for_factor(cfg: JobConfig, factor: float) -> JobConfig:
    """The job's config with every majority class downsampled by ``factor`` (and no degree skip)."""
    ds = cfg.downsampling.model_copy(update={"factor": factor, "target_minority_share": None, "skip_if_degree": []})
    return cfg.model_copy(update={"downsampling": ds})


def fit_model(train_df: DataFrame, ev: EvaluateConfig, weight_column: str | None, seed: int):
    """Fit the configured MLlib model; return (model, seconds, iterations)."""
    if ev.model == "gbt":
        estimator = GBTClassifier(featuresCol=FEATURES, labelCol=LABEL, maxIter=ev.max_iter, seed=seed)
    else:
        estimator = LogisticRegression(
            featuresCol=FEATURES, labelCol=LABEL, maxIter=ev.max_iter, regParam=float(ev.reg_param)
        )
    if weight_column is not None:
        estimator = estimator.setWeightCol(weight_column)
    t0 = time.perf_counter()
    model = estimator.fit(train_df)
    seconds = time.perf_counter() - t0
    if ev.model == "gbt":
        iterations = model.getNumTrees
    else:
        iterations = model.summary.totalIterations if model.hasSummary else None
    return model, seconds, iterations


def with_probability(pred_df: DataFrame, logit_offset: float = 0.0, keep: tuple[str, ...] = ()) -> DataFrame:
    """The positive-class probability as ``__p`` (beside ``keep``), its logit shifted by ``logit_offset``."""
    p = vector_to_array(F.col("probability"))[1]
    if logit_offset:
        clipped = F.least(F.greatest(p, F.lit(1e-15)), F.lit(1.0 - 1e-15))
        logit = F.log(clipped / (F.lit(1.0) - clipped)) + F.lit(logit_offset)
        p = F.lit(1.0) / (F.lit(1.0) + F.exp(-logit))
    return pred_df.select(*keep, LABEL, p.alias(SCORE))


def _class_table(plan: SamplingPlan, kept: bool) -> dict[str, dict[str, Any]]:
    return {
        c.key: {
            "role": c.role,
            "count": c.predicted_kept if kept else c.count,
            "weight_sum": (c.predicted_kept_weight or 0.0) * c.multiplier if kept else c.weight_sum,
        }
        for c in plan.classes
    }


def _delta_bytes(spark: SparkSession, path: str) -> int:
    from delta.tables import DeltaTable

    return int(DeltaTable.forPath(spark, path).detail().first()["sizeInBytes"])


@dataclass
class Baseline:
    """The test slice scored by the F = 1 weighted model: every later F is compared on these rows (paired)."""

    scored_df: DataFrame  # row id, features, label and the F = 1 score; persisted for the sweep
    score_edges: list[float]  # the F = 1 score's equal-mass bin edges
    pr_auc: float | None  # MLlib's PR-AUC of the F = 1 weighted model
    test_rows: int | None  # rows of the test slice (sizes the sample the bin edges come from)


def evaluate_factor(
    spark: SparkSession,
    cfg: JobConfig,
    factor: float,
    train_df: DataFrame,
    test_df: DataFrame,
    input_columns: list[str],
    sample_dir: Path,
    baseline: Baseline | None = None,
    test_rows: int | None = None,
) -> tuple[dict[str, Any], Baseline | None]:
    """One point of the sweep: the job's sample at ``factor``, three models, their test metrics.

    At F = 1 (``baseline`` None) returns the :class:`Baseline` too; later factors score the
    baseline's persisted test rows and compare their weighted PR-AUC with F = 1's on them.
    """
    ev = cfg.evaluate
    cfg_f = config_for_factor(cfg, factor)
    # The job's own steps, as `run` chains them: profile -> plan -> sample -> weight.
    profile = profile_classes(train_df, cfg_f)
    plan = plan_sampling(profile, cfg_f)
    weight = cfg.weight.column
    # Not persisted here: the draws repeat exactly over the persisted train slice, and the MLlib
    # estimators cache their own (smaller) training instances.
    sample_df = sample_input(train_df, cfg_f, plan).transform(
        with_example_weight, cfg.label_column, plan.multipliers, weight, cfg.weight.source_column
    )
    # What the sample costs on disk, as the job writes it (every input column and the weight).
    path = sample_dir / f"factor={factor:g}"
    sample_df.transform(select_output, input_columns, weight).write.format("delta").mode("overwrite").save(str(path))
    sample_bytes = _delta_bytes(spark, str(path))
    shutil.rmtree(path, ignore_errors=True)
    fit_df = sample_df.select(FEATURES, LABEL, weight)
    majority = [c for c in plan.classes if c.downsampled]
    offset = majority[0].logit_offset if majority else 0.0
    variants: dict[str, dict[str, Any]] = {}
    model, seconds, iterations = fit_model(fit_df, ev, weight, cfg.downsampling.seed)
    timing = {"train_seconds": seconds, "iterations": iterations}
    if baseline is None:
        variants["weighted"], baseline = _score_baseline(model, test_df, ev, test_rows)
        variants["weighted"] |= timing
        created = baseline
    else:
        variants["weighted"] = _score_paired(model, baseline, ev) | timing
        created = None
    scored_test_df = baseline.scored_df
    if factor == 1.0:
        # Every weight is the source weight (or 1): the three variants are one model.
        variants["unweighted"] = dict(variants["weighted"])
        variants["king_zeng"] = dict(variants["weighted"])
    else:
        model, seconds, iterations = fit_model(fit_df, ev, cfg.weight.source_column, cfg.downsampling.seed)
        timing = {"train_seconds": seconds, "iterations": iterations}
        variants["unweighted"] = _score(model, scored_test_df, 0.0, ev.bins) | timing
        variants["king_zeng"] = _score(model, scored_test_df, offset, ev.bins) | timing
    rows = plan.predicted_rows
    log.info(
        "evaluate: F = %g: %s training rows, %s bytes; PR-AUC weighted %.4f, unweighted %.4f",
        factor, f"{rows:,}", f"{sample_bytes:,}", variants["weighted"]["pr_auc"] or float("nan"),
        variants["unweighted"]["pr_auc"] or float("nan"),
    )
    point = {
        "factor": factor,
        "train_rows": rows,
        "sample_bytes": sample_bytes,
        "logit_offset": offset,
        "classes": _class_table(plan, kept=True),
        "variants": variants,
    }
    return point, created


def _score(model, test_df: DataFrame, offset: float, bins: int) -> dict[str, Any]:
    # Two small columns, read by the several aggregations of the metrics: keep them.
    pred_df = model.transform(test_df.select(FEATURES, LABEL)).transform(with_probability, offset).persist()
    try:
        return prediction_metrics(pred_df, bins)
    finally:
        pred_df.unpersist()


def _score_baseline(
    model, test_df: DataFrame, ev: EvaluateConfig, test_rows: int | None
) -> tuple[dict[str, Any], Baseline]:
    # The F = 1 scores stay persisted beside the features: every later F scores these rows (no
    # re-filtering of the input) and is compared with F = 1 on them.
    scored_df = (
        model.transform(test_df.select(ROW_ID, FEATURES, LABEL))
        .transform(with_probability, 0.0, (ROW_ID, FEATURES))
        .persist()
    )
    metrics = prediction_metrics(scored_df, ev.bins, ev.score_bins, test_rows)
    edges = metrics.pop("score_edges")
    metrics["pr_auc_vs_f1"] = dict(SAME_MODEL)
    return metrics, Baseline(scored_df, edges, metrics["pr_auc"], test_rows)


def _score_paired(model, baseline: Baseline, ev: EvaluateConfig) -> dict[str, Any]:
    pred_df = (
        model.transform(baseline.scored_df.select(ROW_ID, FEATURES, LABEL, F.col(SCORE).alias(BASELINE_SCORE)))
        .transform(with_probability, 0.0, (ROW_ID, BASELINE_SCORE))
        .persist()
    )
    try:
        metrics = prediction_metrics(pred_df, ev.bins, ev.score_bins, baseline.test_rows)
        edges = metrics.pop("score_edges")
        if metrics["pr_auc"] is None or baseline.pr_auc is None:
            metrics["pr_auc_vs_f1"] = None
            return metrics
        binned_df = pred_df.transform(with_score_bin, BASELINE_SCORE, baseline.score_edges, BASELINE_BIN).transform(
            with_score_bin, SCORE, edges, SCORE_BIN
        )
        bootstrap = paired_pr_auc_bootstrap(binned_df, ev.bootstrap_replicates, ev.bootstrap_seed)
        metrics["pr_auc_vs_f1"] = pr_auc_comparison(metrics["pr_auc"], baseline.pr_auc, bootstrap)
        return metrics
    finally:
        pred_df.unpersist()


# --- the evaluation -------------------------------------------------------------------------------


def sweep_factors(cfg: JobConfig, factors: list[float] | None = None) -> tuple[list[float], float | None]:
    """The factors to train at (always with the F = 1 baseline) and the configured one, if a single F."""
    wanted = [float(f) for f in (factors or cfg.evaluate.factors)]
    configured = cfg.downsampling.factor
    configured = float(configured) if isinstance(configured, (int, float)) else None
    extra = [1.0] + ([configured] if configured is not None else [])
    return sorted(set(wanted + extra)), configured


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
        from imbalance_spark.figures import draw_evaluation_figures

        with timer.stage("figures", f"drawing figures in {out_dir}"):
            report["figures"] = draw_evaluation_figures(report, out_dir)
    report["stages_s"] = {k: round(v, 3) for k, v in timer.stages.items()}
    report["duration_s"] = round(timer.elapsed, 3)
    write_report(report, str(out_dir / "evaluate.json"))
    experiment = mlflow_experiment or cfg.tracking.mlflow_experiment
    if experiment:
        from imbalance_spark.tracking import log_evaluation

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


# --- console --------------------------------------------------------------------------------------


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _vs_f1(c: dict[str, Any] | None) -> str:
    """The relative PR-AUC difference to F = 1 and its 95% interval, e.g. ``-0.9% [-1.8, +0.1]``."""
    if not c or c.get("half_width") is None or not math.isfinite(c["half_width"]):
        return "-"
    if c["half_width"] == 0.0:
        return "(baseline)"
    return f"{c['difference']:+.1%} [{100 * c['low']:+.1f}, {100 * c['high']:+.1f}]"


def render_evaluation(report: dict[str, Any]) -> str:
    """The evaluation as a readable console table."""
    split, test = report["split"], report["test"]
    where = f"test from {split['test_from']}" if split["by"] == "date" else f"hash of {split['key_columns']}"
    lines = [
        f"dataset {report['dataset']}: {report['model']} on {report['train']['rows']:,} train rows,"
        f" measured on {test['rows']:,} held-out rows ({where}, {test['positives']:,} positives,"
        f" base rate {test['base_rate']:.4%})",
        "",
        f"{'F':>5} {'model':<11}{'rows':>11}{'MB':>8}{'train s':>9}{'iter':>6}{'PR-AUC':>9}"
        f"{'vs F=1 [95%]':>23}{'ROC-AUC':>9}{'mean p/base':>12}{'ECE':>9}{'log loss':>10}{'Brier':>9}",
    ]
    for s in report["sweep"]:
        for name in VARIANTS:
            v = s["variants"][name]
            first = name == "weighted"
            lines.append(
                f"{(format(s['factor'], 'g') if first else ''):>5} {name:<11}"
                f"{(format(s['train_rows'], ',') if first else ''):>11}"
                f"{(format(s['sample_bytes'] / 1e6, '.1f') if first else ''):>8}"
                f"{_num(v['train_seconds'], '.1f'):>9}{_num(v['iterations'], 'd'):>6}"
                f"{_num(v['pr_auc'], '.4f'):>9}{_vs_f1(v.get('pr_auc_vs_f1') if first else None):>23}"
                f"{_num(v['roc_auc'], '.4f'):>9}"
                f"{_num(v['calibration_ratio'], '.3f'):>12}{_num(v['ece'], '.5f'):>9}"
                f"{_num(v['log_loss'], '.5f'):>10}{_num(v['brier'], '.5f'):>9}"
            )
            if s["factor"] == 1.0:
                break
    rec = report["recommendation"]
    boot = report.get("bootstrap") or {}
    if boot:
        lines.append("")
        lines.append(
            f"vs F = 1: the weighted model's PR-AUC relative to F = 1's on the same test rows, with a 95% interval"
            f" ({boot['replicates']} paired bootstrap replicates); F passes when the interval's lower end is"
            f" >= -{report['tolerance']:.0%}"
        )
    lines.append("")
    lines.append(
        f"recommended F = {rec['factor']:g}: {rec['reason']}" if rec["factor"] is not None
        else f"no recommendation: {rec['reason']}"
    )
    lines.extend(f"note: {n}" for n in report.get("notes", []))
    lines.append(report["input"]["persisted"])
    for name, path in (report.get("figures") or {}).items():
        lines.append(f"figure {name}: {path}")
    lines.append(f"done in {report['duration_s']:.1f} s")
    return "\n".join(lines)


def report_json(report: dict[str, Any]) -> str:
    """The report as indented JSON."""
    return json.dumps(report, indent=2, default=str)

