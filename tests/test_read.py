"""Reading: pinned Delta versions, date slices, reader errors, secrets never printed."""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from imbalance_spark.common.dates import RunDates
from imbalance_spark.config.load import parse_config
from imbalance_spark.errors import InputError
from imbalance_spark.flows.run import run_job
from imbalance_spark.read import describe_input, read_input


def cfg(path, **over):
    data = {
        "dataset": "r",
        "input": {"path": path},
        "label_column": "y",
        "downsampling": {"factor": 2},
        "output": {"path": path + "_out"},
    }
    data.update(over)
    return parse_config(data)


@pytest.fixture()
def versioned(spark, tmp_path) -> str:
    path = str(tmp_path / "t")
    base = spark.range(1_000).selectExpr("id", "cast(id % 10 = 0 as int) as y", "date'2026-01-01' as d")
    base.write.format("delta").save(path)  # version 0: 1,000 rows
    base.write.format("delta").mode("append").save(path)  # version 1: 2,000 rows
    return path


def test_latest_version_resolved_once_and_pinned_against_concurrent_appends(spark, versioned):
    source = read_input(spark, cfg(versioned))
    assert source.version == 1
    # another writer appends after the job resolved its input
    spark.range(500).selectExpr("id", "1 as y", "date'2026-01-01' as d").write.format("delta").mode("append").save(versioned)
    assert source.df.count() == 2_000
    assert spark.read.format("delta").load(versioned).count() == 2_500


def test_run_reads_pinned_version_while_another_writer_appends(spark, versioned, tmp_path):
    out = str(tmp_path / "out")
    c = cfg(versioned, output={"path": out}, downsampling={"factor": 1})

    def append_meanwhile(df):
        spark.range(300).selectExpr("id", "1 as y", "date'2026-01-01' as d").write.format("delta").mode(
            "append").save(versioned)
        return df

    report = run_job(spark, c, sample_hook=append_meanwhile)
    assert report.input_version == 1
    assert report.input.rows == 2_000
    assert spark.read.format("delta").load(out).count() == 2_000


def test_config_pins_version_or_timestamp(spark, versioned):
    assert read_input(spark, cfg(versioned, input={"path": versioned, "version": 0})).df.count() == 1_000
    with pytest.raises(InputError, match=r"input.version: 7 does not exist \(latest is 1\)"):
        read_input(spark, cfg(versioned, input={"path": versioned, "version": 7}))
    with pytest.raises(InputError, match="is before the table's first version"):
        read_input(spark, cfg(versioned, input={"path": versioned, "timestamp": "2000-01-01T00:00:00"}))
    future = read_input(spark, cfg(versioned, input={"path": versioned, "timestamp": "2100-01-01T00:00:00"}))
    assert future.version == 1


def test_date_slice_by_date_timestamp_and_string_columns(spark, tmp_path):
    path = str(tmp_path / "p")
    spark.range(4 * 24).selectExpr(
        "id",
        "cast(id % 2 as int) as y",
        "timestamp'2026-01-01 00:00:00' + make_interval(0, 0, 0, 0, cast(id as int), 0, 0) as ts",
    ).withColumn("d", F.to_date("ts")).withColumn("s", F.date_format("ts", "yyyy-MM-dd")).withColumn(
        "s_time", F.date_format("ts", "yyyy-MM-dd HH:mm:ss")).withColumn(
        "s_iso", F.date_format("ts", "yyyy-MM-dd'T'HH:mmXXX")).write.parquet(path)
    one = RunDates(dt.date(2026, 1, 2), dt.date(2026, 1, 2))
    two = RunDates(dt.date(2026, 1, 2), dt.date(2026, 1, 3))
    # ISO strings with a time (and an offset) belong to the day they start with, never dropped
    columns = ("d", "ts", "s", "s_time", "s_iso")
    sliced = []
    for column in columns:
        c = cfg(path, input={"path": path, "format": "parquet", "date_column": column})
        for name, dates in (("one", one), ("two", two)):
            sliced.append(read_input(spark, c, dates).df.select(F.lit(f"{column} {name}").alias("case")))
    # every slice counted in one Spark job (a slice that lost all its rows has no group: a mismatch too)
    counts = {r[0]: r[1] for r in functools.reduce(DataFrame.unionByName, sliced).groupBy("case").count().collect()}
    assert counts == {f"{column} {name}": n for column in columns for name, n in (("one", 24), ("two", 48))}
    bad = cfg(path, input={"path": path, "format": "parquet", "date_column": "id"})
    with pytest.raises(InputError, match="input.date_column: column 'id' has type bigint"):
        read_input(spark, bad, one)
    # a daily run on a string date with times replaces exactly that day: the output holds days 2-3
    # (the input's columns and the weight, as a run of this config on them writes it), the run replaces one
    out = str(tmp_path / "out")
    spark.read.parquet(path).filter("d BETWEEN date'2026-01-02' AND date'2026-01-03'").withColumn(
        "example_weight", F.lit(1.0)).write.format("delta").save(out)
    c = cfg(path, input={"path": path, "format": "parquet", "date_column": "s_iso"}, output={"path": out},
            downsampling={"factor": 1})
    rerun = run_job(spark, c, one)  # replaces its day (replaceWhere on the string column), keeps 01-03
    assert rerun.output.mode == "replace_slice" and rerun.output.rows == 24
    written = spark.read.format("delta").load(out)
    assert written.count() == 48
    assert written.filter("d = date'2026-01-03'").count() == 24


def test_csv_input_with_header_and_inference(spark, tmp_path):
    path = str(tmp_path / "c")
    spark.range(100).selectExpr("id", "cast(id % 4 = 0 as int) as y").coalesce(1).write.option("header", True).csv(path)
    source = read_input(spark, cfg(path, input={"path": path, "format": "csv"}))
    assert dict((f.name, f.dataType.simpleString()) for f in source.df.schema.fields)["y"] == "int"


def test_secrets_are_masked(monkeypatch):
    monkeypatch.setenv("LAKE_SECRET_KEY", "s3cr3t")
    c = parse_config({
        "dataset": "s",
        "input": {"path": "s3a://user:${LAKE_SECRET_KEY}@bucket/tx", "options": {"fs.key": "${LAKE_SECRET_KEY}"}},
        "label_column": "y",
        "downsampling": {"factor": 2},
        "output": {"path": "s3a://bucket/out"},
    })
    assert c.input.options["fs.key"] == "s3cr3t"
    assert "s3cr3t" not in describe_input(c)
    assert "s3cr3t" not in str(c.summary())
    assert describe_input(c) == "s3a://user:***@bucket/tx"


@pytest.fixture(scope="module")
def overwritten_delta(spark, tmp_path_factory) -> str:
    """A Delta table written then overwritten: the removed files stay on disk (read-only here)."""
    path = str(tmp_path_factory.mktemp("overwritten") / "t")
    rows = spark.range(100).selectExpr("id", "cast(id % 10 = 0 as int) as y")
    rows.write.format("delta").save(path)
    rows.write.format("delta").mode("overwrite").save(path)
    return path


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_delta_folder_declared_as_plain_files_is_refused(spark, overwritten_delta, tmp_path, fmt):
    # An overwritten Delta table keeps the removed files on disk: read as plain Parquet, it
    # would yield both versions' rows. Refuse, naming the fix, and write nothing.
    path = overwritten_delta
    out = str(tmp_path / "out")
    c = cfg(path, input={"path": path, "format": fmt}, output={"path": out})
    with pytest.raises(InputError, match=r"is a Delta table .*set input.format: delta"):
        run_job(spark, c)
    assert not (tmp_path / "out").exists()


def test_partition_folder_of_a_delta_table_is_refused(spark, tmp_path):
    path = str(tmp_path / "t")
    spark.range(100).selectExpr("id", "cast(id % 10 = 0 as int) as y", "id % 2 as p").write.format(
        "delta").partitionBy("p").save(path)
    inner = str(tmp_path / "t" / "p=0")
    with pytest.raises(InputError, match=r"inside the Delta table"):
        read_input(spark, cfg(inner, input={"path": inner, "format": "parquet"}))
    with pytest.raises(InputError, match=r"folder inside the Delta table"):
        read_input(spark, cfg(inner, input={"path": inner}))
