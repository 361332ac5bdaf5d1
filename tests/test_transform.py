"""Transforms: sampleBy with explicit fractions, example weights, the output contract."""

from __future__ import annotations

import math
import sys

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
    # 5 sigma of 20,000 x 1/10 is +-212 (10.6%): a fraction off by a tenth (1/9: +222) shows
    n_major, n_minor, factor = 20_000, 500, 10.0
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


def _label_sql(dtype):
    values = {"int": ("0", "1", "2"), "string": ("'legit'", "'fraud'", "'chargeback'"), "boolean": ("false", "true", "true")}[dtype]
    # three strata (two for booleans), some null labels, a bit of skew
    return (
        f"CASE WHEN id % 97 = 0 THEN NULL WHEN id % 10 = 0 THEN {values[1]} WHEN id % 7 = 0 THEN {values[2]}"
        f" ELSE {values[0]} END"
    )


def _labelled(df, dtype):
    return df.selectExpr("id", f"{_label_sql(dtype)} AS y")


def _fractions(dtype):
    return {
        "int": {0: 0.05, 1: 1.0, 2: 0.5},
        "string": {"legit": 0.05, "fraud": 1.0, "chargeback": 0.5},
        "boolean": {False: 0.05, True: 1.0},
    }[dtype]


DTYPES = ["int", "string", "boolean"]


@pytest.fixture(scope="module")
def written_layouts(spark, tmp_path_factory) -> dict[str, str]:
    """The 60,000 labelled rows written once per file layout, a label column per dtype (y_int, ...).

    One write per layout instead of one per (layout, dtype): the rows of every dtype are the same
    rows, so each case reads the same files as its own write would have produced."""
    root = tmp_path_factory.mktemp("layouts")
    df = spark.range(0, 60_000, 1, 3).selectExpr("id", *[f"{_label_sql(t)} AS y_{t}" for t in DTYPES])
    paths = {"delta_partitioned": str(root / "delta"), "parquet_small_files": str(root / "parquet")}
    df.withColumn("p", F.col("id") % 5).write.format("delta").partitionBy("p").save(paths["delta_partitioned"])
    df.repartition(40).write.parquet(paths["parquet_small_files"])
    return paths


LAYOUTS = ["range", "repartitioned", "coalesced", "delta_partitioned", "parquet_small_files"]


def layout_frame(spark, written_layouts: dict[str, str], layout: str, dtype: str):
    """The labelled rows (label ``y`` of ``dtype``) in one of the layouts: partitions, files, a Delta table."""
    df = _labelled(spark.range(0, 60_000, 1, 3), dtype)
    if layout == "repartitioned":
        df = df.repartition(7, "id")
    elif layout == "coalesced":
        df = df.coalesce(1)
    elif layout == "delta_partitioned":
        df = spark.read.format("delta").load(written_layouts[layout]).select("id", F.col(f"y_{dtype}").alias("y"), "p")
    elif layout == "parquet_small_files":
        df = spark.read.parquet(written_layouts[layout]).select("id", F.col(f"y_{dtype}").alias("y"))
    return df


@pytest.fixture(scope="module")
def sampler_comparisons(spark, written_layouts) -> dict[tuple[str, str], tuple[int, int, int]]:
    """Ours and DataFrame.sampleBy on every (layout, dtype), compared in one Spark job: {case: same_rows}.

    Each case's pair is built exactly as a case of its own would build it; only the counting is shared
    (one job instead of fifteen)."""
    pairs = {}
    for layout in LAYOUTS:
        for dtype in DTYPES:
            df = layout_frame(spark, written_layouts, layout, dtype)
            fractions = _fractions(dtype)
            pairs[layout, dtype] = (downsample(df, "y", fractions, seed=17).select("id"),
                                    df.sampleBy("y", fractions, 17).select("id"))
    return same_rows_by_case(pairs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_native_sampler_keeps_exactly_the_rows_of_dataframe_sampleBy(sampler_comparisons, dtype, layout):
    n, n_theirs, differing = sampler_comparisons[layout, dtype]
    assert n == n_theirs > 0
    assert differing == 0


def same_rows_by_case(pairs: dict) -> dict:
    """Per case: rows of ours, rows of theirs, and the ids whose count differs (``exceptAll`` both ways), in one job."""
    cases = list(pairs)
    tagged = None
    for i, case in enumerate(cases):
        ours, theirs = pairs[case]
        for side, df in ((1, ours), (0, theirs)):
            one = df.select(F.lit(i).alias("case"), "id", F.lit(side).alias("ours"))
            tagged = one if tagged is None else tagged.unionByName(one)
    per_id = tagged.groupBy("case", "id").agg(F.sum("ours").alias("a"), F.sum(1 - F.col("ours")).alias("b"))
    rows = per_id.groupBy("case").agg(F.sum("a"), F.sum("b"), F.count_if(F.col("a") != F.col("b"))).collect()
    found = {r[0]: (r[1] or 0, r[2] or 0, r[3]) for r in rows}
    return {case: found.get(i, (0, 0, 0)) for i, case in enumerate(cases)}


def same_rows(ours, theirs) -> tuple[int, int, int]:
    """Rows of each, and the ids whose count differs between them: ``exceptAll`` both ways, in one job."""
    return same_rows_by_case({"one": (ours, theirs)})["one"]


_SAME_ROWS_SCRIPT = """
import sys
from imbalance_spark.session import build_spark_session
from imbalance_spark.transform import downsample
from tests.test_transform import same_rows
for master in sys.argv[1:]:
    spark = build_spark_session(master=master, conf={"spark.ui.enabled": "false"}, quick_start=True)
    df = spark.range(0, 50_000, 1, 5).selectExpr("id", "CASE WHEN id % 10 = 0 THEN 1 ELSE 0 END AS y")
    f = {0: 0.1, 1: 1.0}
    ours, theirs = downsample(df, "y", f, 5).select("id"), df.sampleBy("y", f, 5).select("id")
    n, n_theirs, differing = same_rows(ours, theirs)
    print(master, spark.sparkContext.master, n, n_theirs, differing)
    spark.stop()
"""
OTHER_MASTERS = ["local[1]", "local[3]"]


@pytest.fixture(scope="module")
def other_masters_output() -> str:
    """One Python process that runs the comparison on each master in turn (a new SparkContext each)."""
    import subprocess

    from tests.conftest import REPO_ROOT, cli_env

    done = subprocess.run(
        [sys.executable, "-c", _SAME_ROWS_SCRIPT, *OTHER_MASTERS], env=cli_env(), capture_output=True, text=True,
        timeout=300, cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("master", OTHER_MASTERS)
def test_native_sampler_matches_sampleBy_on_other_masters(other_masters_output, master):
    line = next(x for x in other_masters_output.splitlines() if x.startswith(master + " "))
    ran_on, kept, theirs, differing = line.split()[1:]
    assert ran_on == master
    kept, theirs, differing = map(int, (kept, theirs, differing))
    assert kept == theirs > 5_000 and differing == 0
