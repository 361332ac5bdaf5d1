"""Profile the class balance in one aggregation over the label (and weight) column only.

The same pass predicts, per class, how many rows the sampler keeps, so counts can be checked
and committed before the full scan writes anything.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from typing import Any

from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from imbalance_spark.common.names import label_key
from imbalance_spark.config.models import JobConfig
from imbalance_spark.errors import EmptyInputError, InputError
from imbalance_spark.read import missing_files_error
from imbalance_spark.transform import (
    column,
    label_key_column,
    sampling_uniform,
    stratum_value_columns,
    value_by_class,
)

# More distinct labels than this is not a classification this job can rebalance class by class.
MAX_CLASSES = 10_000
# With downsampling.strata, the profile collects one row per (class, stratum): at most this many
# classes times downsampling.max_strata (+1, to see a column that has more).
MAX_STRATIFIED_CLASSES = 100


@dataclass(frozen=True)
class ClassStats:
    """Counts of one class in the input, and what the sampler keeps of it if downsampled."""

    key: str
    value: Any
    count: int
    weight_sum: float
    kept_if_downsampled: int | None  # None when the factor is derived from the counts
    kept_weight_if_downsampled: float | None


@dataclass(frozen=True)
class StratumStats:
    """The classes of one stratum: its values of downsampling.strata (as text, None for null)."""

    values: tuple[str | None, ...]
    classes: tuple[ClassStats, ...]

    @property
    def rows(self) -> int:
        return sum(c.count for c in self.classes)


@dataclass(frozen=True)
class ClassProfile:
    """Per-class counts of the input (nulls excluded) and the number of null labels."""

    classes: tuple[ClassStats, ...]
    null_labels: int
    bad_weights: int = 0
    null_keys: int = 0
    # approximate distinct values of output.partition_by (together, and each column), when set
    partitions: int | None = None
    partitions_by_column: tuple[int, ...] = ()
    # the first and last day of the date column, when asked for (a whole-table run's span)
    date_span: tuple[dt.date, dt.date] | None = None
    # with downsampling.strata: the classes of each stratum (``classes`` are their sums)
    strata: tuple[StratumStats, ...] = ()

    @property
    def rows(self) -> int:
        return sum(c.count for c in self.classes)

    def by_key(self) -> dict[str, ClassStats]:
        return {c.key: c for c in self.classes}


def fractions_if_majority(cfg: JobConfig) -> dict[str, float] | None:
    """Keep fraction (1/F) per configured class, or None when F is derived from the counts."""
    factor = cfg.downsampling.factor
    if factor is None:
        return None
    if not isinstance(factor, dict):
        return {}
    return {label_key(cls): 1.0 / float(f) for cls, f in factor.items()}


def class_profile_df(df: DataFrame, cfg: JobConfig, date_column: str | None = None) -> DataFrame:
    """Aggregate per class: count, weight sum, and rows/weight kept if downsampled.

    Reads only the label, key, source weight and partition columns (and ``date_column``, whose
    first and last day per class are ``__first_day``/``__last_day``). With ``output.partition_by``
    the aggregation is a rollup whose grand-total row (``__total`` = 1) carries the approximate
    number of distinct partition values, so estimating the output's partitions costs no extra scan.
    The label is ``__label`` (a label column called ``count`` must not collide with a metric).
    """
    source = cfg.weight.source_column
    keys = [f"__k{i}" for i in range(len(cfg.downsampling.key_columns))]
    parts = [f"__p{i}" for i in range(len(cfg.output.partition_by))]
    strata = [f"__s{i}" for i in range(len(cfg.downsampling.strata))]
    cols = [column(cfg.label_column).alias("__label")]
    cols += [c.alias(a) for c, a in zip(stratum_value_columns(cfg.downsampling.strata), strata, strict=True)]
    cols += [column(k).alias(a) for k, a in zip(cfg.downsampling.key_columns, keys, strict=True)]
    cols += [column(p).alias(a) for p, a in zip(cfg.output.partition_by, parts, strict=True)]
    cols += [column(source).cast("double").alias("__w")] if source else []
    cols += [column(date_column).try_cast("date").alias("__day")] if date_column else []
    weight = F.col("__w") if source else F.lit(1.0)
    bad = weight.isNull() | F.isnan(weight) | (weight < 0) | (F.abs(weight) == float("inf")) if source else F.lit(False)
    null_key = F.lit(False)
    for k in keys:
        null_key = null_key | F.col(k).isNull()
    # name -> aggregate per class; the names are the result's columns, in this order
    metrics = {
        "count": F.count(F.lit(1)),
        "weight_sum": F.sum(weight),
        "bad_weights": F.sum(F.when(bad, 1).otherwise(0)),
        "null_keys": F.sum(F.when(null_key, 1).otherwise(0)),
    }
    df_cols = df.select(*cols)
    fractions = fractions_if_majority(cfg)
    if fractions is not None:
        default = 1.0 / float(cfg.downsampling.factor) if not isinstance(cfg.downsampling.factor, dict) else 1.0
        key = label_key_column(df_cols, "__label")
        kept = sampling_uniform(cfg.downsampling.method, cfg.downsampling.seed, keys) < value_by_class(
            key, fractions, default
        )
        metrics["kept"] = F.sum(F.when(F.col("__kept"), 1).otherwise(0))
        metrics["kept_weight"] = F.sum(F.when(F.col("__kept"), weight).otherwise(0.0))
        df_cols = df_cols.withColumn("__kept", kept)
    aggs = [expr.alias(name) for name, expr in metrics.items()]
    span = [F.min("__day").alias("__first_day"), F.max("__day").alias("__last_day")] if date_column else []
    if not parts:
        return df_cols.groupBy("__label", *strata).agg(*aggs, *span)
    # Two levels: first per (class, partition value), a plain hash aggregation Spark compiles to
    # code (approx_count_distinct per input row is an imperative aggregate that takes the slow
    # object-hash path and made this pass cost more than a full scan); then a rollup over those
    # few rows sums each class and counts the distinct partition values in its grand-total row.
    per_partition = df_cols.groupBy("__label", *strata, *parts).agg(*aggs, *span)
    # struct(): a null partition value is a partition too (__HIVE_DEFAULT_PARTITION__)
    totals = [F.sum(F.col(n)).alias(n) for n in metrics]
    totals += [F.min("__first_day").alias("__first_day"), F.max("__last_day").alias("__last_day")] if span else []
    totals += [F.approx_count_distinct(F.struct(*parts)).alias("__partitions")]
    totals += [F.approx_count_distinct(F.struct(p)).alias(f"__partitions{p}") for p in parts]
    if strata:
        # one row per (class, stratum), and the grand total first (the collect is limited)
        grouped = per_partition.groupingSets([["__label", *strata], []], "__label", *strata)
        total = F.grouping("__label").alias("__total")
        return grouped.agg(*totals, total).orderBy(F.col("__total").desc())
    return per_partition.rollup("__label").agg(*totals, F.grouping("__label").alias("__total"))


def kept_by_class_df(sample_df: DataFrame, cfg: JobConfig) -> DataFrame:
    """Per-class (and stratum) kept rows and weight of a sample; Spark prunes the scan to label/key/weight."""
    source = cfg.weight.source_column
    weight = column(source).cast("double") if source else F.lit(1.0)
    strata = [c.alias(f"__s{i}") for i, c in enumerate(stratum_value_columns(cfg.downsampling.strata))]
    return sample_df.groupBy(column(cfg.label_column).alias("__label"), *strata).agg(
        F.count(F.lit(1)).alias("kept"), F.sum(weight).alias("kept_weight")
    )


def kept_by_class(sample_df: DataFrame, cfg: JobConfig) -> dict[str, tuple[int, float]]:
    """Collect the (aggregate) kept counts and weights per class key."""
    kept: dict[str, tuple[int, float]] = {}
    for by_class in kept_by_stratum(sample_df, cfg).values():
        for key, (n, w) in by_class.items():
            before = kept.get(key, (0, 0.0))
            kept[key] = (before[0] + n, before[1] + w)
    return kept


def kept_by_stratum(sample_df: DataFrame, cfg: JobConfig) -> dict[tuple, dict[str, tuple[int, float]]]:
    """Collect the (aggregate) kept counts and weights per stratum values, then class key (``()``: unstratified)."""
    n = len(cfg.downsampling.strata)
    kept: dict[tuple, dict[str, tuple[int, float]]] = {}
    for r in kept_by_class_df(sample_df, cfg).collect():
        if r["__label"] is not None:
            values = tuple(r[f"__s{i}"] for i in range(n))
            kept.setdefault(values, {})[label_key(r["__label"])] = (int(r["kept"]), float(r["kept_weight"] or 0.0))
    return kept


def _collect_profile(df: DataFrame, cfg: JobConfig, date_column: str | None) -> list:
    """The profile's aggregate rows, capped: one more than the most a real class label (and strata) can give."""
    limit = MAX_CLASSES + 2
    if cfg.downsampling.strata:
        limit = MAX_STRATIFIED_CLASSES * (cfg.downsampling.max_strata + 1) + 2
    try:
        return class_profile_df(df, cfg, date_column).limit(limit).collect()
    except (PySparkException, Py4JJavaError) as exc:
        # the first pass over the data: a pinned version whose files were vacuumed fails here
        typed = missing_files_error(exc, cfg)
        if typed is None:
            raise
        raise typed from None


def _class_stats(value: Any, rows: list) -> ClassStats:
    """One class's statistics from its aggregate row(s): one, or one per stratum (summed)."""
    has_kept = "kept" in rows[0].asDict()
    return ClassStats(
        key=label_key(value),
        value=value,
        count=sum(int(r["count"]) for r in rows),
        weight_sum=sum(float(r["weight_sum"] or 0.0) for r in rows),
        kept_if_downsampled=sum(int(r["kept"]) for r in rows) if has_kept else None,
        kept_weight_if_downsampled=sum(float(r["kept_weight"] or 0.0) for r in rows) if has_kept else None,
    )


def _by_count(classes: list[ClassStats]) -> tuple[ClassStats, ...]:
    return tuple(sorted(classes, key=lambda c: (-c.count, c.key)))


def _strata_stats(rows: list, n: int) -> tuple[StratumStats, ...]:
    """Each stratum's classes (labelled rows only), strata in the order of their values."""
    by_stratum: dict[tuple, list] = {}
    for r in rows:
        by_stratum.setdefault(tuple(r[f"__s{i}"] for i in range(n)), []).append(r)
    return tuple(
        StratumStats(values=values, classes=_by_count([_class_stats(r["__label"], [r]) for r in group]))
        for values, group in sorted(by_stratum.items(), key=lambda kv: [(v is None, v or "") for v in kv[0]])
    )


def profile_classes(
    df: DataFrame, cfg: JobConfig, where: str = "", date_column: str | None = None, *, min_classes: int = 2
) -> ClassProfile:
    """Run the label-only aggregation and return per-class statistics (an aggregate collect).

    With ``date_column`` the same pass finds the first and last day of the labelled rows; with
    ``downsampling.strata`` it counts each class in each stratum (and refuses too many strata).
    ``min_classes``: fewer classes is an error (an incremental micro-batch may hold one, or none).
    """
    # An id or a regression target as the label would collect one row per value: stop at the cap.
    collected = _collect_profile(df, cfg, date_column)
    total = [r for r in collected if r.asDict().get("__total") == 1]
    rows = [r for r in collected if r.asDict().get("__total") != 1]
    labelled = [r for r in rows if r["__label"] is not None]
    n_strata = len(cfg.downsampling.strata)
    if n_strata:
        check_strata_count(labelled, cfg)
    by_label: dict[Any, list] = {}
    for r in labelled:
        by_label.setdefault(r["__label"], []).append(r)
    cap = MAX_STRATIFIED_CLASSES if n_strata else MAX_CLASSES
    if (len(by_label) > cap) if n_strata else (len(collected) > MAX_CLASSES + 1):
        with_strata = " (with downsampling.strata)" if n_strata else ""
        raise InputError(
            f"label_column: {cfg.label_column!r} has more than {cap:,} distinct values{with_strata}:"
            " an id or a continuous target, not class labels; choose the class column"
        )
    partitions, partitions_by_column = None, ()
    if total:
        partitions = int(total[0]["__partitions"])
        partitions_by_column = tuple(int(total[0][f"__partitions__p{i}"]) for i in range(len(cfg.output.partition_by)))
    days = [(r["__first_day"], r["__last_day"]) for r in labelled] if date_column else []
    days = [d for d in days if d[0] is not None]
    profile = ClassProfile(
        classes=_by_count([_class_stats(value, group) for value, group in by_label.items()]),
        null_labels=sum(int(r["count"]) for r in rows if r["__label"] is None),
        bad_weights=sum(int(r["bad_weights"] or 0) for r in labelled),
        null_keys=sum(int(r["null_keys"] or 0) for r in labelled),
        partitions=partitions,
        partitions_by_column=partitions_by_column,
        date_span=(min(d[0] for d in days), max(d[1] for d in days)) if days else None,
        strata=_strata_stats(labelled, n_strata) if n_strata else (),
    )
    _check_profile(profile, cfg, where, min_classes)
    return profile


def check_strata_count(labelled_rows: list, cfg: JobConfig) -> None:
    """Refuse, before any sampling, strata columns with more distinct values than ``downsampling.max_strata``."""
    ds = cfg.downsampling
    n = len(ds.strata)
    strata = {tuple(r[f"__s{i}"] for i in range(n)) for r in labelled_rows}
    if len(strata) <= ds.max_strata:
        return
    distinct = [len({values[i] for values in strata}) for i in range(n)]
    worst = max(range(n), key=lambda i: distinct[i])
    raise InputError(
        f"downsampling.strata: {list(ds.strata)} take {len(strata):,} or more distinct values (column"
        f" {ds.strata[worst]!r} alone {distinct[worst]:,} or more), more than downsampling.max_strata"
        f" {ds.max_strata:,}; stratify by a low-cardinality column such as a country or a channel,"
        " or raise downsampling.max_strata"
    )


def _not_a_class(value: Any) -> bool:
    """A fractional label value that names no class: 0.5, NaN, inf, or too large to be exact."""
    if isinstance(value, float):
        return not value.is_integer() or abs(value) >= 2**53
    if isinstance(value, decimal.Decimal):
        return value != value.to_integral_value()
    return False


def _check_profile(profile: ClassProfile, cfg: JobConfig, where: str = "", min_classes: int = 2) -> None:
    label = cfg.label_column
    if profile.null_labels and cfg.null_labels == "error":
        if not profile.classes:
            raise InputError(f"label_column: every one of the {profile.null_labels} rows has a null {label!r}")
        raise InputError(
            f"label_column: {profile.null_labels} row(s) have a null {label!r}; set `null_labels: drop` to drop them"
        )
    if profile.rows == 0 and min_classes > 0:
        raise EmptyInputError(f"input has no rows{where} with a {label!r} label")
    odd = sorted(label_key(c.value) for c in profile.classes if _not_a_class(c.value))
    if odd:
        raise InputError(
            f"label_column: {label!r} holds {len(odd)} non-integral value(s) (e.g. {', '.join(odd[:3])}):"
            " a regression target, not class labels; bucket it into classes first (integral 0.0/1.0 labels work)"
        )
    if 0 < len(profile.classes) < min_classes:
        raise InputError(f"label_column: only one class ({profile.classes[0].key}) in {label!r}; nothing to rebalance")
    if profile.bad_weights:
        raise InputError(
            f"weight.source_column: {profile.bad_weights} row(s) have a null, negative, NaN or"
            f" infinite weight in {cfg.weight.source_column!r}"
        )
    if profile.null_keys and cfg.downsampling.null_keys == "error":
        raise InputError(
            f"downsampling.key_columns: {profile.null_keys} row(s) have a null key in"
            f" {list(cfg.downsampling.key_columns)}; set `null_keys: allow` to hash them as nulls"
        )


def date_range(df: DataFrame, date_column: str) -> tuple[Any, Any] | None:
    """The first and last day in ``date_column`` (one aggregate row), or None when it has none."""
    day = F.to_date(F.col(date_column))
    row = df.agg(F.min(day).alias("first"), F.max(day).alias("last")).first()
    return None if row is None or row["first"] is None else (row["first"], row["last"])
