"""Inputs written by other engines: delta-rs (the `deltalake` package) and pandas/pyarrow Parquet."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from imbalance_spark.common.dates import RunDates
from imbalance_spark.config.load import parse_config
from imbalance_spark.errors import InputError
from imbalance_spark.flows.run import run_job
from imbalance_spark.report.models import RunReport

N = 6_000


def frame(n: int = N, offset: int = 0) -> pd.DataFrame:
    ids = np.arange(offset, offset + n)
    return pd.DataFrame({
        "id": ids,
        # MLlib's convention: double labels
        "label": (ids % 20 == 0).astype("float64"),
        "amount.eur": ids * 0.25,
        # a timestamp with a time zone: 00:00 in Paris is 23:00 UTC the day before
        "event_ts": pd.to_datetime("2026-05-01 00:00", utc=False).tz_localize("Europe/Paris")
        + pd.to_timedelta(ids % 72, unit="h"),
        "event_date": (pd.Timestamp("2026-05-01") + pd.to_timedelta(ids % 3, unit="D")).date,
    })


def cfg(path, out, fmt="delta", **over):
    data = {
        "dataset": "engines", "input": {"path": path, "format": fmt}, "label_column": "label",
        "minority_classes": [1], "downsampling": {"factor": 4, "seed": 2}, "output": {"path": out},
    }
    data.update(over)
    return parse_config(data)


def test_delta_rs_table_overwritten_is_read_at_its_latest_version(spark, tmp_path):
    deltalake = pytest.importorskip("deltalake")
    path, out = str(tmp_path / "rs"), str(tmp_path / "out")
    deltalake.write_deltalake(path, frame(1_000, offset=100_000), partition_by=["event_date"])
    deltalake.write_deltalake(path, frame(), mode="overwrite", partition_by=["event_date"])  # the old files stay on disk
    assert deltalake.DeltaTable(path).version() == 1
    report = run_job(spark, cfg(path, out))
    assert report.input_version == 1 and report.input.rows == N
    assert report.as_dict()["input"]["classes"] == {
        "0": {"count": 5_700, "share": 0.95, "weight_sum": 5_700.0},
        "1": {"count": 300, "share": 0.05, "weight_sum": 300.0},
    }
    out_df = spark.read.format("delta").load(out)
    assert out_df.filter("label = 1.0").count() == 300
    kept = out_df.filter("label = 0.0").count()
    assert abs(kept - 5_700 / 4) <= 5 * math.sqrt(5_700 * 0.25 * 0.75)
    assert out_df.filter("id >= 100000").count() == 0  # nothing of the overwritten version
    # the same folder read as Parquet would mix both versions: refused
    with pytest.raises(InputError, match="set input.format: delta"):
        run_job(spark, cfg(path, str(tmp_path / "out2"), fmt="parquet"))


def test_delta_rs_slice_by_date_column(spark, spaced_runs):
    # the delta-rs table partitioned by its date column ("event date"), sliced to one day
    deltalake = pytest.importorskip("deltalake")
    run = spaced_runs("delta-rs")
    assert deltalake.DeltaTable(run.path).metadata().partition_columns == ["event date"]
    assert run.report.input.rows == N // 3
    assert spark.read.format("delta").load(run.out).select("`event date`").distinct().count() == 1


def test_pandas_parquet_with_time_zone_timestamps_and_dotted_names(spark, tmp_path):
    path, out = str(tmp_path / "pq"), str(tmp_path / "out")
    (tmp_path / "pq").mkdir()
    df = frame()
    # pandas writes nanoseconds by default, which Spark does not read: refused with the fix
    df.drop(columns=["event_date"]).to_parquet(f"{path}/part-0.parquet", engine="pyarrow", index=False)
    c_ns = cfg(path, out, fmt="parquet")
    with pytest.raises(InputError, match=r"Illegal Parquet type: INT64 \(TIMESTAMP\(NANOS,true\)\).*coerce_timestamps='us'"):
        run_job(spark, c_ns)
    df.drop(columns=["event_date"]).to_parquet(
        f"{path}/part-0.parquet", engine="pyarrow", index=False, coerce_timestamps="us", allow_truncated_timestamps=True
    )
    c = cfg(path, out, fmt="parquet", input={"path": path, "format": "parquet", "date_column": "event_ts"},
            weight={"source_column": "amount.eur", "column": "w.eur"})
    day = RunDates(dt.date(2026, 5, 2), dt.date(2026, 5, 2))
    report = run_job(spark, c, day)
    # the session is UTC: the day is 2026-05-02 00:00..24:00 UTC, i.e. hours 2..25 after Paris midnight
    utc = df["event_ts"].dt.tz_convert("UTC")
    in_day = df[(utc >= pd.Timestamp("2026-05-02", tz="UTC")) & (utc < pd.Timestamp("2026-05-03", tz="UTC"))]
    assert report.input.rows == len(in_day)
    assert report.input.classes["1"].weight_sum == pytest.approx(in_day.loc[in_day.label == 1.0, "amount.eur"].sum())
    out_df = spark.read.format("delta").load(out)
    assert out_df.columns == ["id", "label", "amount.eur", "event_ts", "w.eur"]
    ratios = {r.label: r.m for r in out_df.filter(F.col("`amount.eur`") > 0).select(
        "label", F.round(F.col("`w.eur`") / F.col("`amount.eur`"), 6).alias("m")).distinct().collect()}
    assert ratios == {0.0: 4.0, 1.0: 1.0}


def spaced_frame() -> pd.DataFrame:
    """The frame with names a Delta table holds only with column mapping (a space, ( ) and =)."""
    return frame().drop(columns=["event_ts"]).rename(columns={
        "id": "tx id", "label": "is fraud", "amount.eur": "amount (eur)", "event_date": "event date",
    })


DAY = RunDates(dt.date(2026, 5, 2), dt.date(2026, 5, 2))


@dataclass(frozen=True)
class SpacedRun:
    """A daily run on the spaced frame as one engine wrote it (delta-rs: and the same day again)."""

    path: str
    out: str
    report: RunReport
    again: RunReport | None


def _spaced_run(spark, root, writer: str) -> SpacedRun:
    path, out = str(root / "in"), str(root / "out")
    df = spaced_frame()
    fmt = {"pyarrow": "parquet", "csv": "csv", "delta-rs": "delta"}[writer]
    if writer == "delta-rs":
        deltalake = pytest.importorskip("deltalake")
        deltalake.write_deltalake(path, df, partition_by=["event date"])
    else:
        (root / "in").mkdir()
        if writer == "csv":
            df.to_csv(f"{path}/part-0.csv", index=False)
        else:
            df.to_parquet(f"{path}/part-0.parquet", engine="pyarrow", index=False)
    c = cfg(path, out, fmt=fmt, label_column="is fraud",
            input={"path": path, "format": fmt, "date_column": "event date"},
            downsampling={"factor": 4, "seed": 2, "method": "hash", "key_columns": ["tx id"]},
            weight={"source_column": "amount (eur)", "column": "weight = amount x F"},
            output={"path": out, "partition_by": ["event date"]})
    report = run_job(spark, c, DAY)
    # the same date again replaces its slice: once (the output side is the same whoever wrote the input)
    again = run_job(spark, c, DAY) if writer == "delta-rs" else None
    return SpacedRun(path, out, report, again)


@pytest.fixture(scope="module")
def spaced_runs(spark, tmp_path_factory):
    """``spaced_runs(writer)``: that writer's run, made on first use and shared by the tests that read it."""
    done: dict[str, SpacedRun] = {}

    def get(writer: str) -> SpacedRun:
        if writer not in done:
            done[writer] = _spaced_run(spark, tmp_path_factory.mktemp(writer), writer)
        return done[writer]

    return get


@pytest.mark.parametrize("writer", ["pyarrow", "csv", "delta-rs"])
def test_spaced_names_written_by_other_engines(spark, spaced_runs, writer):
    run = spaced_runs(writer)
    df, report = spaced_frame(), run.report
    in_day = df[pd.to_datetime(df["event date"]) == pd.Timestamp("2026-05-02")]
    assert report.input.rows == len(in_day)
    assert report.input.classes["1"].weight_sum == pytest.approx(in_day.loc[in_day["is fraud"] == 1.0, "amount (eur)"].sum())
    out_df = spark.read.format("delta").load(run.out)
    assert out_df.columns == [*df.columns, "weight = amount x F"]
    assert out_df.count() == report.output.rows
    if run.again is not None:
        assert run.again.output.rows == report.output.rows and run.again.output.mode == "replace_slice"
    assert out_df.filter(F.col("`is fraud`") == 1).count() == (in_day["is fraud"] == 1.0).sum()
    ratios = {r.y: r.m for r in out_df.filter(F.col("`amount (eur)`") > 0).select(
        F.col("`is fraud`").alias("y"), F.round(F.col("`weight = amount x F`") / F.col("`amount (eur)`"), 6).alias("m")
    ).distinct().collect()}
    assert ratios == {0.0: 4.0, 1.0: 1.0}
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{run.out}`").first()
    assert detail.properties["delta.columnMapping.mode"] == "name" and list(detail.partitionColumns) == ["event date"]
    if writer != "delta-rs":
        return
    # delta-rs's query engine reads the column-mapped output back under the same names (its
    # to_pandas() in deltalake 1.6 does not: nulls in every mapped column, see docs/configuration.md)
    deltalake = pytest.importorskip("deltalake")
    import pyarrow as pa

    rs = deltalake.QueryBuilder().register("t", deltalake.DeltaTable(run.out)).execute(
        'SELECT "tx id", "is fraud", "weight = amount x F" FROM t ORDER BY "tx id"').read_all()
    assert [tuple(r.values()) for r in pa.table(rs).to_pylist()] == [
        tuple(r) for r in out_df.orderBy("`tx id`").select("`tx id`", "`is fraud`", "`weight = amount x F`").collect()
    ]
