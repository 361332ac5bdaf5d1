"""Profile the class balance in one aggregation over the label (and weight) column only.

The same pass predicts, per class, how many rows the sampler keeps, so counts can be checked
and committed before the full scan writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from imbalance_spark.config import JobConfig, label_key
from imbalance_spark.errors import InputError

_NULL = "__null__"


@dataclass(frozen=True)
class ClassStats:
    """Counts of one class in the input, and what the sampler keeps of it if downsampled."""

    key: str
    value: Any
    count: int
    weight_sum: float
    kept_if_downsampled: int
    kept_weight_if_downsampled: float


@dataclass(frozen=True)
class ClassProfile:
    """Per-class counts of the input (nulls excluded) and the number of null labels."""

    classes: tuple[ClassStats, ...]
    null_labels: int
    bad_weights: int = 0

    @property
    def rows(self) -> int:
        return sum(c.count for c in self.classes)

    def by_key(self) -> dict[str, ClassStats]:
        return {c.key: c for c in self.classes}


def downsample_fraction_if_majority(cfg: JobConfig, label: Column) -> Column:
    """Keep fraction each class would get as a majority class (1/F; 1.0 when unmapped)."""
    factor = cfg.downsampling.factor
    if not isinstance(factor, dict):
        return F.lit(1.0 / float(factor))
    label_str = label.cast("string")
    expr = None
    for cls, f in factor.items():
        cond = label_str == F.lit(label_key(cls))
        expr = F.when(cond, F.lit(1.0 / float(f))) if expr is None else expr.when(cond, 1.0 / float(f))
    return expr.otherwise(F.lit(1.0))


def sampling_uniform(cfg: JobConfig) -> Column:
    """The per-row uniform in [0, 1) that decides keeping, identical to ``sampleBy``'s draw."""
    # sampleBy is filter(rand(seed) < fraction(label)); rand(seed) draws per partition in row
    # order, so the same read of the same files yields the same draws with fewer columns.
    return F.rand(cfg.downsampling.seed)


def class_profile_df(df: DataFrame, cfg: JobConfig) -> DataFrame:
    """Aggregate per class: count, weight sum, and rows/weight kept if downsampled."""
    label = F.col(cfg.label_column)
    source = cfg.weight.source_column
    cols = [label] + ([F.col(source).cast("double").alias("__w")] if source else [])
    weight = F.col("__w") if source else F.lit(1.0)
    bad = (
        weight.isNull() | F.isnan(weight) | (weight < 0) | (F.abs(weight) == float("inf"))
        if source
        else F.lit(False)
    )
    kept = sampling_uniform(cfg) < downsample_fraction_if_majority(cfg, label)
    return (
        df.select(*cols)
        .withColumn("__kept", kept)
        .groupBy(cfg.label_column)
        .agg(
            F.count(F.lit(1)).alias("count"),
            F.sum(weight).alias("weight_sum"),
            F.sum(F.when(F.col("__kept"), 1).otherwise(0)).alias("kept"),
            F.sum(F.when(F.col("__kept"), weight).otherwise(0.0)).alias("kept_weight"),
            F.sum(F.when(bad, 1).otherwise(0)).alias("bad_weights"),
        )
    )


def profile_classes(df: DataFrame, cfg: JobConfig) -> ClassProfile:
    """Run the label-only aggregation and return per-class statistics (an aggregate collect)."""
    rows = class_profile_df(df, cfg).collect()
    classes, null_labels, bad = [], 0, 0
    for row in rows:
        value = row[cfg.label_column]
        if value is None:
            null_labels = int(row["count"])
            continue
        bad += int(row["bad_weights"] or 0)
        classes.append(
            ClassStats(
                key=label_key(value),
                value=value,
                count=int(row["count"]),
                weight_sum=float(row["weight_sum"] or 0.0),
                kept_if_downsampled=int(row["kept"]),
                kept_weight_if_downsampled=float(row["kept_weight"] or 0.0),
            )
        )
    classes.sort(key=lambda c: (-c.count, c.key))
    profile = ClassProfile(classes=tuple(classes), null_labels=null_labels, bad_weights=bad)
    _check_profile(profile, cfg)
    return profile


def _check_profile(profile: ClassProfile, cfg: JobConfig) -> None:
    label = cfg.label_column
    if profile.null_labels and cfg.null_labels == "error":
        if not profile.classes:
            raise InputError(f"label_column: every one of the {profile.null_labels} rows has a null {label!r}")
        raise InputError(
            f"label_column: {profile.null_labels} row(s) have a null {label!r};"
            " set `null_labels: drop` to drop them"
        )
    if profile.rows == 0:
        raise InputError(f"input has no rows with a {label!r} label")
    if len(profile.classes) < 2:
        raise InputError(
            f"label_column: only one class ({profile.classes[0].key}) in {label!r};"
            " nothing to rebalance"
        )
    if profile.bad_weights:
        raise InputError(
            f"weight.source_column: {profile.bad_weights} row(s) have a null, negative, NaN or"
            f" infinite weight in {cfg.weight.source_column!r}"
        )
