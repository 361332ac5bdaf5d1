"""Pure DataFrame transforms: downsample the majority classes, add the example weight.

No reads, writes, collects or session look-ups here; chain with ``df.transform(fn, ...)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from imbalance_spark.common.dates import date_kind
from imbalance_spark.common.hashing import hash_to_uniform
from imbalance_spark.common.names import backtick, label_key

if TYPE_CHECKING:
    from imbalance_spark.config.models import JobConfig
    from imbalance_spark.plan import SamplingPlan


def column(name: str) -> Column:
    """The column called ``name``: a configured name is a name, never a path ("a.b" is not field b of a)."""
    return F.col(backtick(name))


def label_key_column(df: DataFrame, label_column: str) -> Column:
    """Each row's canonical class key as a string, as :func:`label_key` writes it ("1" for 1, 1.0, 1.00).

    Fractional labels are integral by the time rows are sampled (the profile refuses others); the
    conversion never fails on a value that is not (NaN, huge), it only yields a key no class has.
    """
    label = column(label_column)
    dtype = df.schema[label_column].dataType
    if isinstance(dtype, T.DecimalType):
        return label.cast(T.DecimalType(38, 0)).cast("string")
    if isinstance(dtype, (T.FloatType, T.DoubleType)):
        return label.try_cast("long").cast("string")
    return label.cast("string")


def filter_dates(df: DataFrame, date_column: str, start: dt.date, end: dt.date) -> DataFrame:
    """Rows whose date column falls in [start, end]; prunes partitions when partitioned by it."""
    date = column(date_column)
    dtype = df.schema[date_column].dataType
    kind = date_kind(dtype)
    if kind == "timestamp":
        after = end + dt.timedelta(days=1)
        return df.filter(
            (date >= F.lit(start.isoformat()).cast(dtype)) & (date < F.lit(after.isoformat()).cast(dtype))
        )
    if kind == "date":
        return df.filter((date >= F.lit(start)) & (date <= F.lit(end)))
    # Strings compare as ISO text, up to the next day: "2026-01-02 05:00" and "2026-01-02T05:00+02:00"
    # belong to 2026-01-02 (a `<= '2026-01-02'` test would silently drop them).
    after = end + dt.timedelta(days=1)
    return df.filter((date >= F.lit(start.isoformat())) & (date < F.lit(after.isoformat())))


def hash_uniform(key_columns: Sequence[str], seed: int) -> Column:
    """A uniform in [0, 1) from a hash of the row's key and the seed: same row, same draw."""
    return hash_to_uniform(F.lit(seed), *[column(c) for c in key_columns])


def sampling_uniform(method: str, seed: int, key_columns: Sequence[str] = ()) -> Column:
    """The per-row draw that decides keeping: ``sampleBy``'s ``rand(seed)`` or the key hash."""
    # sampleBy is filter(rand(seed) < fraction(label)); rand(seed) draws per partition in row
    # order, so the same read of the same files yields the same draws with fewer columns.
    return F.rand(seed) if method == "sampleBy" else hash_uniform(key_columns, seed)


def downsample(
    df: DataFrame,
    label_column: str,
    fractions: Mapping[Any, float],
    seed: int,
    method: str = "sampleBy",
    key_columns: Sequence[str] = (),
) -> DataFrame:
    """Stratified sample: keep each row of class c with probability ``fractions[c]``."""
    if not fractions:
        raise ValueError("fractions must name every class; an empty mapping drops every row")
    # DataFrame.sampleBy(col, fractions, seed) is filter(udf(col, rand(seed))), the UDF being
    # `rand < fractions.getOrElse(label, 0)`. The same comparison as a native expression makes
    # exactly the same draws (rand(seed) is seeded per partition and drawn once per row either
    # way) without a Scala UDF call per row; tests/test_transform.py compares them row for row.
    # It compares the canonical class key, so a label named "a.b" is a name, not a path, and
    # 1.0 and Decimal("1.00") are the class "1". Unlisted classes and null labels get fraction 0,
    # as in sampleBy; the plan lists every class.
    key = label_key_column(df, label_column)
    keep = sampling_uniform(method, seed, key_columns) < value_by_class(key, fractions, 0.0)
    return df.filter(keep)


def value_by_class(key: Column, values: Mapping[Any, float], default: float) -> Column:
    """A per-row value chosen by the row's class key (:func:`label_key_column`), ``default`` otherwise."""
    expr = None
    for value, x in values.items():
        cond = key == F.lit(label_key(value))
        expr = F.when(cond, F.lit(float(x))) if expr is None else expr.when(cond, F.lit(float(x)))
    return F.lit(float(default)) if expr is None else expr.otherwise(F.lit(float(default)))


def stratum_value_columns(strata: Sequence[str]) -> list[Column]:
    """Each stratum column as text: how strata are named and matched (a null is a stratum of its own)."""
    return [column(c).cast("string") for c in strata]


def stratum_condition(strata_columns: Sequence[Column], values: Sequence[str | None]) -> Column:
    """True for the rows of one stratum: each column's text equals its value (null-safe)."""
    cond = F.lit(True)
    for col, value in zip(strata_columns, values, strict=True):
        cond = cond & col.eqNullSafe(F.lit(value).cast("string"))
    return cond


def value_by_stratum(
    key: Column, strata_columns: Sequence[Column], values: Mapping[tuple, Mapping[str, float]], default: float
) -> Column:
    """A per-row value chosen by the row's stratum, then its class key; ``default`` for a pair not listed."""
    expr = None
    for stratum, by_class in values.items():
        cond = stratum_condition(strata_columns, stratum)
        value = value_by_class(key, by_class, default)
        expr = F.when(cond, value) if expr is None else expr.when(cond, value)
    return F.lit(float(default)) if expr is None else expr.otherwise(F.lit(float(default)))


def downsample_strata(
    df: DataFrame,
    label_column: str,
    strata: Sequence[str],
    fractions: Mapping[tuple, Mapping[str, float]],
    seed: int,
    method: str = "sampleBy",
    key_columns: Sequence[str] = (),
) -> DataFrame:
    """Stratified by class x stratum: keep each row with the fraction of its (stratum, class) pair.

    ``fractions`` maps each stratum's values (text, as :func:`stratum_value_columns`) to its
    per-class-key fractions. It is ``sampleBy`` on the combined key (class, stratum): the same
    per-row draw as :func:`downsample` (``rand(seed)``, or the key hash, which decides a row the
    same way on any partitioning), and a pair the plan does not list gets fraction 0, as in sampleBy.
    """
    if not fractions:
        raise ValueError("fractions must name every stratum; an empty mapping drops every row")
    key = label_key_column(df, label_column)
    fraction = value_by_stratum(key, stratum_value_columns(strata), fractions, 0.0)
    return df.filter(sampling_uniform(method, seed, key_columns) < fraction)


def with_stratum_weight(
    df: DataFrame,
    label_column: str,
    strata: Sequence[str],
    multipliers: Mapping[tuple, Mapping[str, float]],
    weight_column: str,
    source_column: str | None = None,
) -> DataFrame:
    """Add ``weight_column`` = source weight (or 1.0) x the factor of the row's (stratum, class) pair.

    Each stratum is downsampled by its own factor, so its kept rows stand for that many input rows:
    weighted totals then give back each stratum's input counts.
    """
    base = column(source_column).cast("double") if source_column else F.lit(1.0)
    key = label_key_column(df, label_column)
    multiplier = value_by_stratum(key, stratum_value_columns(strata), multipliers, 1.0)
    return df.withColumn(weight_column, (base * multiplier).cast("double"))


def with_plan_weight(df: DataFrame, cfg: JobConfig, plan: SamplingPlan) -> DataFrame:
    """The example weight the plan gives: per class, or per class x stratum when stratified."""
    if plan.strata:
        return with_stratum_weight(
            df, cfg.label_column, plan.strata_columns, plan.stratum_multipliers, cfg.weight.column,
            cfg.weight.source_column,
        )
    return with_example_weight(df, cfg.label_column, plan.multipliers, cfg.weight.column, cfg.weight.source_column)


def with_example_weight(
    df: DataFrame,
    label_column: str,
    multipliers: Mapping[Any, float],
    weight_column: str,
    source_column: str | None = None,
) -> DataFrame:
    """Add ``weight_column`` = source weight (or 1.0) x the class's downsampling factor.

    A kept row of a class downsampled by F stands for F rows of the input, so its weight is
    multiplied by F: weighted class totals then match the input and the model stays calibrated.
    """
    base = column(source_column).cast("double") if source_column else F.lit(1.0)
    weight = (base * value_by_class(label_key_column(df, label_column), multipliers, 1.0)).cast("double")
    return df.withColumn(weight_column, weight)


def select_output(df: DataFrame, input_columns: Sequence[str], weight_column: str) -> DataFrame:
    """The output contract: every input column, in order, then the weight column."""
    columns = [c for c in input_columns if c != weight_column] + [weight_column]
    return df.select(*[column(c) for c in columns])


def observe_output(df: DataFrame, observation, label_column: str, keys: Sequence[str], weight_column: str) -> DataFrame:
    """Gather per-class output counts and weight sums while the write runs (one pass)."""
    label_str = label_key_column(df, label_column)
    metrics = [F.count(F.lit(1)).alias("rows")]
    for i, key in enumerate(keys):
        hit = label_str == F.lit(key)
        metrics.append(F.sum(F.when(hit, 1).otherwise(0)).alias(f"count_{i}"))
        metrics.append(F.sum(F.when(hit, column(weight_column)).otherwise(0.0)).alias(f"weight_{i}"))
    return df.observe(observation, *metrics)


def sample_input(
    input_df: DataFrame, cfg: JobConfig, plan: SamplingPlan, sampler: Callable[..., DataFrame] = downsample
) -> DataFrame:
    """The rows to keep: ``sampler`` (the configured one, :func:`downsample`) with the plan's explicit fractions.

    A stratified plan samples with :func:`downsample_strata`, every (stratum, class) pair listed.
    """
    if plan.keeps_everything:
        return input_df.filter(column(cfg.label_column).isNotNull())
    if plan.strata:
        return downsample_strata(
            input_df, cfg.label_column, plan.strata_columns, plan.stratum_fractions, cfg.downsampling.seed,
            cfg.downsampling.method, cfg.downsampling.key_columns,
        )
    return sampler(
        input_df,
        cfg.label_column,
        plan.fractions,
        cfg.downsampling.seed,
        cfg.downsampling.method,
        cfg.downsampling.key_columns,
    )


def _hashable(dtype: T.DataType) -> bool:
    """Whether Spark can hash a column of this type (maps and variants it cannot, nested or not)."""
    if isinstance(dtype, (T.MapType, T.VariantType)):
        return False
    if isinstance(dtype, T.ArrayType):
        return _hashable(dtype.elementType)
    if isinstance(dtype, T.StructType):
        return all(_hashable(f.dataType) for f in dtype.fields)
    return True


def mix_rows(df: DataFrame, seed: int, partition_by: Sequence[str] = ()) -> DataFrame:
    """The rows spread over the write's tasks and ordered within each by a seeded hash of the whole row.

    A task writes one file per partition value, its rows in the order it holds them. Rows read from
    files that arrived by class (positives in their own commit) sit in blocks, or in tasks of one
    class when Spark packs those files together: a trainer reading the files in order then meets
    batches without a positive. Hash-partitioned (one shuffle of the kept rows; adaptive execution
    sizes the tasks) and sorted by the same seeded hash, each file holds a reproducible sample of
    the output in an order unrelated to the class. The partition columns lead the sort because the
    write needs its rows grouped by them (a sort it would otherwise add, which would not keep this).
    """
    hashed = [column(f.name) for f in df.schema.fields if _hashable(f.dataType)]
    order = F.xxhash64(F.lit(seed), *hashed)
    return df.repartition(order).sortWithinPartitions(*[column(c) for c in partition_by], order)


def file_batch_counts(
    df: DataFrame, label_column: str, minority_keys: Sequence[str], batch_rows: int,
    file_column: str = "file_path", index_column: str = "row_index",
) -> DataFrame:
    """Per file: its rows, its minority rows, and its ``batch_rows``-row batches (in file order) holding one."""
    minority = label_key_column(df, label_column).isin(list(minority_keys))
    batch = F.floor(F.col(index_column) / F.lit(batch_rows))
    return df.groupBy(file_column).agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.when(minority, 1).otherwise(0)).alias("minority_rows"),
        F.count_distinct(F.when(minority, batch)).alias("batches_with_minority"),
    )
