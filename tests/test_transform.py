"""Transforms: sampleBy with explicit fractions, example weights, the output contract."""

from __future__ import annotations

import math

import pytest
from pyspark.sql import Observation
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from imbalance_spark.transform import downsample, observe_output, select_output, with_example_weight


def test_weights_by_class_with_and_without_source(spark):
    schema = T.StructType([
        T.StructField("id", T.IntegerType()), T.StructField("y", T.StringType()), T.StructField("w", T.FloatType()),
    ])
    df = spark.createDataFrame([(1, "a", 0.5), (2, "b", 2.0), (3, "c", 1.0)], schema)
    out = with_example_weight(df, "y", {"a": 20.0, "b": 1.0, "c": 4.0}, "example_weight")
    expected = spark.createDataFrame(
        [(1, "a", 0.5, 20.0), (2, "b", 2.0, 1.0), (3, "c", 1.0, 4.0)],
        schema.add(T.StructField("example_weight", T.DoubleType(), False)),
    )
    assertDataFrameEqual(out, expected, checkRowOrder=False)
    sourced = with_example_weight(df, "y", {"a": 20.0, "b": 1.0, "c": 4.0}, "ew", source_column="w")
    assert dict(sourced.select("y", "ew").collect()) == {"a": 10.0, "b": 2.0, "c": 4.0}
    assert sourced.schema["ew"].dataType == T.DoubleType()


def test_select_output_keeps_every_input_column_then_weight(spark):
    df = spark.createDataFrame([(1, "a")], "id int, `odd name` string").withColumn("w", F.lit(1.0))
    out = select_output(df.select("w", "odd name", "id"), ["id", "odd name"], "w")
    assert out.columns == ["id", "odd name", "w"]


@pytest.mark.parametrize(
    "dtype, values",
    [("bigint", (0, 1)), ("string", ("legit", "fraud")), ("boolean", (False, True)), ("tinyint", (0, 1))],
)
def test_downsample_keeps_minority_and_binomial_majority(spark, dtype, values):
    majority, minority = values
    n_major, n_minor, factor = 200_000, 2_000, 10.0
    df = spark.range(n_major + n_minor).select(
        F.col("id"),
        F.when(F.col("id") < n_minor, F.lit(minority)).otherwise(F.lit(majority)).cast(dtype).alias("y"),
    )
    out = downsample(df, "y", {majority: 1.0 / factor, minority: 1.0}, seed=3)
    counts = {r.y: r["count"] for r in out.groupBy("y").count().collect()}
    assert counts[minority] == n_minor
    p = 1.0 / factor
    assert abs(counts[majority] - n_major * p) <= 5 * math.sqrt(n_major * p * (1 - p)), counts


def test_downsample_refuses_empty_fractions(spark):
    with pytest.raises(ValueError, match="every class"):
        downsample(spark.range(3).withColumn("y", F.lit(1)), "y", {}, 1)


def test_observe_output_counts_while_writing(spark, tmp_path):
    df = spark.range(100).select((F.col("id") % 4 == 0).cast("int").alias("y"), F.lit(2.0).alias("w"))
    obs = Observation("t")
    df.transform(observe_output, obs, "y", ["0", "1"], "w").write.format("noop").mode("overwrite").save()
    assert obs.get == {"rows": 100, "count_0": 75, "weight_0": 150.0, "count_1": 25, "weight_1": 50.0}
