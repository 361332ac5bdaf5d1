"""Pure DataFrame transforms: downsample the majority classes, add the example weight.

No reads, writes, collects or session look-ups here; chain with ``df.transform(fn, ...)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from imbalance_spark.config import label_key

_2_53 = float(2**53)


def filter_dates(df: DataFrame, date_column: str, start: dt.date, end: dt.date) -> DataFrame:
    """Rows whose date column falls in [start, end]; prunes partitions when partitioned by it."""
    column = F.col(f"`{date_column}`")
    dtype = df.schema[date_column].dataType
    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType)):
        after = end + dt.timedelta(days=1)
        return df.filter(
            (column >= F.lit(start.isoformat()).cast(dtype)) & (column < F.lit(after.isoformat()).cast(dtype))
        )
    # date columns compare to date literals; strings compare as ISO text
    lo, hi = (
        (F.lit(start), F.lit(end))
        if isinstance(dtype, T.DateType)
        else (F.lit(start.isoformat()), F.lit(end.isoformat()))
    )
    return df.filter((column >= lo) & (column <= hi))


def hash_uniform(key_columns: Sequence[str], seed: int) -> Column:
    """A uniform in [0, 1) from a hash of the row's key and the seed: same row, same draw."""
    h = F.xxhash64(F.lit(seed), *[F.col(f"`{c}`") for c in key_columns])
    return F.shiftrightunsigned(h, 11).cast("double") / F.lit(_2_53)


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
    # Unlisted classes and null labels get fraction 0, as in sampleBy; the plan lists every class.
    keep = sampling_uniform(method, seed, key_columns) < value_by_class(F.col(label_column), fractions, 0.0)
    return df.filter(keep)


def value_by_class(label: Column, values: Mapping[Any, float], default: float) -> Column:
    """A per-row value chosen by the row's class (canonical label key), ``default`` otherwise."""
    label_str = label.cast("string")
    expr = None
    for value, x in values.items():
        cond = label_str == F.lit(label_key(value))
        expr = F.when(cond, F.lit(float(x))) if expr is None else expr.when(cond, F.lit(float(x)))
    return F.lit(float(default)) if expr is None else expr.otherwise(F.lit(float(default)))


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
    base = F.col(source_column).cast("double") if source_column else F.lit(1.0)
    weight = (base * value_by_class(F.col(label_column), multipliers, 1.0)).cast("double")
    return df.withColumn(weight_column, weight)


def select_output(df: DataFrame, input_columns: Sequence[str], weight_column: str) -> DataFrame:
    """The output contract: every input column, in order, then the weight column."""
    columns = [c for c in input_columns if c != weight_column] + [weight_column]
    return df.select(*[F.col(f"`{c}`") for c in columns])


def observe_output(df: DataFrame, observation, label_column: str, keys: Sequence[str], weight_column: str) -> DataFrame:
    """Gather per-class output counts and weight sums while the write runs (one pass)."""
    label_str = F.col(label_column).cast("string")
    metrics = [F.count(F.lit(1)).alias("rows")]
    for i, key in enumerate(keys):
        hit = label_str == F.lit(key)
        metrics.append(F.sum(F.when(hit, 1).otherwise(0)).alias(f"count_{i}"))
        metrics.append(F.sum(F.when(hit, F.col(weight_column)).otherwise(0.0)).alias(f"weight_{i}"))
    return df.observe(observation, *metrics)
