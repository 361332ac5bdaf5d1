"""Profiling: one aggregation over the label column; nulls, bad weights, single class."""

from __future__ import annotations

import pytest
from pyspark.sql import types as T

from imbalance_spark.config.load import parse_config
from imbalance_spark.errors import InputError
from imbalance_spark.profile import profile_classes


def cfg(**over):
    data = {
        "dataset": "d",
        "input": {"path": "/in"},
        "label_column": "y",
        "downsampling": {"factor": 4, "seed": 1},
        "output": {"path": "/out"},
    }
    data.update(over)
    return parse_config(data)


SCHEMA = T.StructType([T.StructField("id", T.LongType()), T.StructField("y", T.IntegerType()), T.StructField("w", T.DoubleType())])


def test_counts_weights_and_nulls(spark):
    rows = [(i, 1 if i % 10 == 0 else 0, 2.0) for i in range(1_000)] + [(1_000 + i, None, 1.0) for i in range(7)]
    df = spark.createDataFrame(rows, SCHEMA)
    profile = profile_classes(df, cfg(null_labels="drop", weight={"source_column": "w"}))
    by = profile.by_key()
    assert profile.rows == 1_000 and profile.null_labels == 7
    assert by["0"].count == 900 and by["1"].count == 100
    assert by["0"].weight_sum == 1_800.0
    assert 0 < by["0"].kept_if_downsampled < 900
    assert by["0"].kept_weight_if_downsampled == 2.0 * by["0"].kept_if_downsampled
    assert [c.key for c in profile.classes] == ["0", "1"]  # most frequent first


def test_null_labels_are_an_error_by_default(spark):
    df = spark.createDataFrame([(1, 0, 1.0), (2, 1, 1.0), (3, None, 1.0), (4, None, 1.0)], SCHEMA)
    with pytest.raises(InputError, match=r"2 row\(s\) have a null 'y'; set `null_labels: drop`"):
        profile_classes(df, cfg())


def test_all_null_single_class_and_empty(spark):
    nulls = spark.createDataFrame([(1, None, 1.0)], SCHEMA)
    with pytest.raises(InputError, match="every one of the 1 rows has a null 'y'"):
        profile_classes(nulls, cfg())
    single = spark.createDataFrame([(1, 0, 1.0), (2, 0, 1.0)], SCHEMA)
    with pytest.raises(InputError, match=r"only one class \(0\)"):
        profile_classes(single, cfg())
    empty = spark.createDataFrame([], SCHEMA)
    with pytest.raises(InputError, match="no rows"):
        profile_classes(empty, cfg())


def test_bad_source_weights_are_counted(spark):
    rows = [(1, 0, 1.0), (2, 1, -1.0), (3, 0, float("nan")), (4, 0, None), (5, 1, float("inf")), (6, 0, 0.0)]
    df = spark.createDataFrame(rows, SCHEMA)
    with pytest.raises(InputError, match=r"4 row\(s\) have a null, negative, NaN or infinite weight in 'w'"):
        profile_classes(df, cfg(weight={"source_column": "w"}))
