"""The held-out split: later days test (or a hash of a key), never sampled.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from imbalance_spark.common.dates import date_kind
from imbalance_spark.common.hashing import hash_to_uniform
from imbalance_spark.errors import InputError
from imbalance_spark.transform import (
    column,
    hash_uniform,
)

TEST = "__is_test"


def on_or_after(df: DataFrame, date_column: str, day: dt.date) -> Column:
    """True for rows whose date column is on or after ``day`` (date, timestamp or ISO string)."""
    c = column(date_column)
    dtype = df.schema[date_column].dataType
    kind = date_kind(dtype)
    if kind == "timestamp":
        return c >= F.lit(day.isoformat()).cast(dtype)
    if kind == "date":
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

ROW_ID = "__row_id"

def row_uniform(seed: int, stream: int) -> Column:
    """A uniform in [0, 1) from a hash of (seed, ``__row_id``, stream): the same for the same row anywhere."""
    return hash_to_uniform(F.lit(seed), F.col(ROW_ID), F.lit(stream))
