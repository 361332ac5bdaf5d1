"""Holding the test slice out: the split, its null counts, the train pre-sample and the labels.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from imbalance_spark.config.models import JobConfig
from imbalance_spark.errors import InputError
from imbalance_spark.evaluate.features import FeatureSpec, any_null_feature
from imbalance_spark.evaluate.report import Presample
from imbalance_spark.evaluate.split import (
    TEST,
    default_test_from,
    holdout_slice,
    presample,
    train_slice,
    with_date_split,
    with_hash_split,
)
from imbalance_spark.transform import column

NULL_FEATURE = "__null_feature"


@dataclass(frozen=True)
class HeldOut:
    """The train and test slices (nulls dropped when so configured) and what the split counted."""

    train_df: DataFrame
    test_df: DataFrame
    by: str
    test_from: dt.date | None
    null_rows: dict[str, int]  # rows with a null feature, per side
    by_column: dict[str, int]  # nulls per feature, both sides
    train_rows: int  # rows of the train slice before any pre-sample
    presample: Presample | None = None


def choose_test_from(base_df: DataFrame, cfg: JobConfig) -> dt.date:
    """The configured ``split.test_from``, else the first day of the last ``test_fraction`` of rows."""
    split = cfg.evaluate.split
    if split.test_from is not None:
        return split.test_from
    day = F.to_date(column(cfg.input.date_column)).alias("d")
    rows = base_df.groupBy(day).agg(F.count(F.lit(1)).alias("n")).collect()
    return default_test_from({r["d"]: int(r["n"]) for r in rows if r["d"] is not None}, split.test_fraction)


def _side_counts(split_df: DataFrame, spec: FeatureSpec) -> dict[bool, dict[str, Any]]:
    """Rows, rows with a null feature and nulls per feature, per side of the split: one aggregation."""
    counts = [F.sum(F.when(F.col(NULL_FEATURE), 1).otherwise(0)).alias("rows_with_nulls")]
    counts += [
        F.sum(F.when(F.col(internal).isNull(), 1).otherwise(0)).alias(f"null_{internal}")
        for _, internal in spec.all
    ]
    rows = split_df.groupBy(TEST).agg(F.count(F.lit(1)).alias("rows"), *counts).collect()
    return {r[TEST]: r.asDict() for r in rows}


def hold_out(base_df: DataFrame, cfg: JobConfig, spec: FeatureSpec) -> HeldOut:
    """Split ``base_df`` into train and test by date (later days test) or by a hash of the key."""
    ev, split, by = cfg.evaluate, cfg.evaluate.split, cfg.split_by()
    test_from = choose_test_from(base_df, cfg) if by == "date" else None
    if by == "date":
        split_df = base_df.transform(with_date_split, cfg.input.date_column, test_from)
    else:
        split_df = base_df.transform(with_hash_split, split.key_columns, split.seed, split.test_fraction)
    split_df = split_df.withColumn(NULL_FEATURE, any_null_feature(spec))
    side = _side_counts(split_df, spec)
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
        split_df = split_df.filter(~F.col(NULL_FEATURE))
    train_rows = int(train_side["rows"]) - (null_rows["train"] if ev.nulls == "drop" else 0)
    return HeldOut(train_slice(split_df), holdout_slice(split_df), by, test_from, null_rows, by_column, train_rows)


def presampled(held: HeldOut, cfg: JobConfig) -> HeldOut:
    """The train slice pre-sampled uniformly to about ``split.train_max_rows`` when it is larger."""
    split = cfg.evaluate.split
    if split.train_max_rows is None or held.train_rows <= split.train_max_rows:
        return held
    fraction = split.train_max_rows / held.train_rows
    train_df = held.train_df.transform(presample, fraction, split.seed, split.key_columns)
    info = Presample(max_rows=split.train_max_rows, rows_before=held.train_rows, fraction=fraction)
    return HeldOut(train_df, held.test_df, held.by, held.test_from, held.null_rows, held.by_column,
                   held.train_rows, info)
