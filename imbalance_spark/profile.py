"""Profile the class balance in one aggregation over the label (and weight) column only.

The same pass predicts, per class, how many rows the sampler keeps, so counts can be checked
and committed before the full scan writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from imbalance_spark.config import JobConfig, label_key
from imbalance_spark.errors import EmptyInputError, InputError
from imbalance_spark.transform import sampling_uniform, value_by_class


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
class ClassProfile:
    """Per-class counts of the input (nulls excluded) and the number of null labels."""

    classes: tuple[ClassStats, ...]
    null_labels: int
    bad_weights: int = 0
    null_keys: int = 0

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


def class_profile_df(df: DataFrame, cfg: JobConfig) -> DataFrame:
    """Aggregate per class: count, weight sum, and rows/weight kept if downsampled.

    Reads only the label, key and source weight columns.
    """
    label = F.col(cfg.label_column)
    source = cfg.weight.source_column
    keys = list(cfg.downsampling.key_columns)
    cols = [label] + [F.col(f"`{k}`") for k in keys if k != cfg.label_column]
    cols += [F.col(source).cast("double").alias("__w")] if source else []
    weight = F.col("__w") if source else F.lit(1.0)
    bad = weight.isNull() | F.isnan(weight) | (weight < 0) | (F.abs(weight) == float("inf")) if source else F.lit(False)
    null_key = F.lit(False)
    for k in keys:
        null_key = null_key | F.col(f"`{k}`").isNull()
    metrics = [
        F.count(F.lit(1)).alias("count"),
        F.sum(weight).alias("weight_sum"),
        F.sum(F.when(bad, 1).otherwise(0)).alias("bad_weights"),
        F.sum(F.when(null_key, 1).otherwise(0)).alias("null_keys"),
    ]
    fractions = fractions_if_majority(cfg)
    if fractions is not None:
        default = 1.0 / float(cfg.downsampling.factor) if not isinstance(cfg.downsampling.factor, dict) else 1.0
        kept = sampling_uniform(cfg.downsampling.method, cfg.downsampling.seed, keys) < value_by_class(
            label, fractions, default
        )
        metrics += [
            F.sum(F.when(F.col("__kept"), 1).otherwise(0)).alias("kept"),
            F.sum(F.when(F.col("__kept"), weight).otherwise(0.0)).alias("kept_weight"),
        ]
        df_cols = df.select(*cols).withColumn("__kept", kept)
    else:
        df_cols = df.select(*cols)
    return df_cols.groupBy(cfg.label_column).agg(*metrics)


def kept_by_class_df(sample_df: DataFrame, cfg: JobConfig) -> DataFrame:
    """Per-class kept rows and weight of a sample; Spark prunes the scan to label/key/weight."""
    source = cfg.weight.source_column
    weight = F.col(source).cast("double") if source else F.lit(1.0)
    return sample_df.groupBy(cfg.label_column).agg(F.count(F.lit(1)).alias("kept"), F.sum(weight).alias("kept_weight"))


def kept_by_class(sample_df: DataFrame, cfg: JobConfig) -> dict[str, tuple[int, float]]:
    """Collect the (aggregate) kept counts and weights per class key."""
    return {
        label_key(r[cfg.label_column]): (int(r["kept"]), float(r["kept_weight"] or 0.0))
        for r in kept_by_class_df(sample_df, cfg).collect()
        if r[cfg.label_column] is not None
    }


def profile_classes(df: DataFrame, cfg: JobConfig, where: str = "") -> ClassProfile:
    """Run the label-only aggregation and return per-class statistics (an aggregate collect)."""
    rows = class_profile_df(df, cfg).collect()
    classes, null_labels, bad, null_keys = [], 0, 0, 0
    for row in rows:
        value = row[cfg.label_column]
        if value is None:
            null_labels = int(row["count"])
            continue
        bad += int(row["bad_weights"] or 0)
        null_keys += int(row["null_keys"] or 0)
        has_kept = "kept" in row.asDict()
        classes.append(
            ClassStats(
                key=label_key(value),
                value=value,
                count=int(row["count"]),
                weight_sum=float(row["weight_sum"] or 0.0),
                kept_if_downsampled=int(row["kept"]) if has_kept else None,
                kept_weight_if_downsampled=float(row["kept_weight"] or 0.0) if has_kept else None,
            )
        )
    classes.sort(key=lambda c: (-c.count, c.key))
    profile = ClassProfile(classes=tuple(classes), null_labels=null_labels, bad_weights=bad, null_keys=null_keys)
    _check_profile(profile, cfg, where)
    return profile


def _check_profile(profile: ClassProfile, cfg: JobConfig, where: str = "") -> None:
    label = cfg.label_column
    if profile.null_labels and cfg.null_labels == "error":
        if not profile.classes:
            raise InputError(f"label_column: every one of the {profile.null_labels} rows has a null {label!r}")
        raise InputError(
            f"label_column: {profile.null_labels} row(s) have a null {label!r}; set `null_labels: drop` to drop them"
        )
    if profile.rows == 0:
        raise EmptyInputError(f"input has no rows{where} with a {label!r} label")
    if len(profile.classes) < 2:
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
