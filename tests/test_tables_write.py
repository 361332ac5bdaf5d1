"""Writing: daily slices with replaceWhere, idempotent reruns, backfills, concurrency, schema checks, history."""

from __future__ import annotations

import json
import shutil
import threading

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from imbalance_spark.common.dates import RunDates
from imbalance_spark.config.load import parse_config
from imbalance_spark.errors import ConfigError, InputError, OutputError
from imbalance_spark.flows.run import run_job
from imbalance_spark.report.models import ReportDates


@pytest.fixture(scope="module")
def daily_table(spark, tmp_path_factory) -> str:
    """30k transactions over 3 days (2026-01-01..03), 5% fraud, partitioned by event_date."""
    from imbalance_spark.synthetic import write_demo_table

    path = str(tmp_path_factory.mktemp("daily") / "tx")
    write_demo_table(spark, path, rows=30_000, fraud_rate=0.05, days=3, seed=21)
    return path


def cfg(input_path, output_path, **over):
    data = {
        "dataset": "daily",
        "input": {"path": input_path, "date_column": "event_date"},
        "label_column": "is_fraud",
        "minority_classes": [1],
        "downsampling": {"factor": 4, "seed": 3, "method": "hash", "key_columns": ["transaction_id"]},
        "output": {"path": output_path, "partition_by": ["event_date"]},
    }
    data.update(over)
    return parse_config(data)


def day(d: str) -> RunDates:
    return RunDates(*(2 * [__import__("datetime").date.fromisoformat(d)]))


def table_rows(spark, path):
    return sorted(tuple(r) for r in spark.read.format("delta").load(path).collect())


def versions(spark, path):
    return DeltaTable.forPath(spark, path).history().count()


@pytest.fixture(scope="module")
def reruns(spark, daily_table, tmp_path_factory):
    """Day 1 (creates the table), day 2, day 1 again, then day 3, with the history table on.

    What the table held around the rerun is kept for the rerun test; the four runs' history rows
    for the history test (the history table does not change what the output holds)."""
    root = tmp_path_factory.mktemp("reruns")
    out, hist = str(root / "o"), str(root / "history")
    c = cfg(daily_table, out, history={"path": hist})
    r1 = run_job(spark, c, day("2026-01-01"))
    r2 = run_job(spark, c, day("2026-01-02"))
    first, v_before = table_rows(spark, out), versions(spark, out)
    r1b = run_job(spark, c, day("2026-01-01"))
    after = {
        "rows": table_rows(spark, out), "versions": versions(spark, out),
        "dates": {r[0] for r in spark.read.format("delta").load(out).select("event_date").distinct().collect()},
        "meta": json.loads(DeltaTable.forPath(spark, out).history(1).first().userMetadata),
    }
    r3 = run_job(spark, c, day("2026-01-03"))
    return {"out": out, "hist": hist, "r1": r1, "r1b": r1b, "first": first, "v_before": v_before, "after": after,
            "reports": [r1, r2, r1b, r3]}


def test_run_date_replaces_only_its_slice_and_reruns_are_idempotent(spark, daily_table, reruns):
    r1, r1b, first, v_before, after = (reruns[k] for k in ("r1", "r1b", "first", "v_before", "after"))
    assert after["versions"] == v_before + 1  # one new version per run
    assert after["rows"] == first  # same rows, no duplicates
    assert r1b.output.rows == r1.output.rows
    assert {d.isoformat() for d in after["dates"]} == {"2026-01-01", "2026-01-02"}
    assert r1.output.mode == "replace_slice"
    assert "event_date" in r1b.output.replace_where
    meta = after["meta"]
    assert meta["run_dates"] == {"start": "2026-01-01", "end": "2026-01-01", "sliced": True}
    assert meta["input_version"] == 0 and meta["config_sha256"] is None and meta["tool"].startswith("imbalance-spark")
    # only the slice was read: input counts are that day's
    n_day = spark.read.format("delta").load(daily_table).filter("event_date = '2026-01-01'").count()
    assert r1.input.rows == n_day


@pytest.fixture(scope="module")
def backfill(spark, daily_table, tmp_path_factory):
    """One day, then a backfill of all three into the same table, then the whole table into another.

    Also writes each run's report (``report.path`` with ``{run_date}``), which the tables ignore:
    the backfill and the report-path tests read the same three runs.
    """
    root = tmp_path_factory.mktemp("backfill")
    reports = root / "reports"
    report = {"path": str(reports / "daily-{run_date}.json")}
    out, whole = str(root / "o"), str(root / "w")
    c = cfg(daily_table, out, report=report)
    one = run_job(spark, c, day("2026-01-02"))
    span = run_job(spark, c, RunDates(*map(__import__("datetime").date.fromisoformat, ("2026-01-01", "2026-01-03"))))
    everything = run_job(spark, cfg(daily_table, whole, report=report))  # no run date: the whole table, mode overwrite
    return {"out": out, "whole": whole, "reports": reports, "one": one, "span": span, "everything": everything}


def test_backfill_covers_every_date_in_one_commit(spark, backfill):
    assert versions(spark, backfill["out"]) == 2
    assert table_rows(spark, backfill["out"]) == table_rows(spark, backfill["whole"])
    report = backfill["span"]
    assert report.run_dates.start == "2026-01-01" and report.run_dates.end == "2026-01-03"


def test_concurrent_runs_on_different_dates_both_commit(spark, daily_table, backfill, tmp_path):
    out = str(tmp_path / "o")
    c = cfg(daily_table, out)
    shutil.copytree(backfill["out"], out)  # the table exists, written by this config (days 1-3, 2 commits)
    before = versions(spark, out)
    errors = []

    def go(d):
        try:
            run_job(spark, c, day(d))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(d,)) for d in ("2026-01-01", "2026-01-02")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert versions(spark, out) == before + 2
    assert table_rows(spark, out) == table_rows(spark, backfill["whole"])  # the whole table, run once


def test_output_modes(spark, daily_table, tmp_path):
    out = str(tmp_path / "o")
    with pytest.raises(ConfigError, match="replace_slice needs a run date"):
        run_job(spark, cfg(daily_table, out, output={"path": out, "mode": "replace_slice"}))
    with pytest.raises(ConfigError, match="would replace the whole table with one slice"):
        run_job(spark, cfg(daily_table, out, output={"path": out, "mode": "overwrite"}), day("2026-01-01"))
    run_job(spark, cfg(daily_table, out, output={"path": out, "partition_by": ["event_date"], "mode": "error_if_exists"}))
    with pytest.raises(OutputError, match="already exists"):
        run_job(spark, cfg(daily_table, out, output={"path": out, "mode": "error_if_exists"}))


def test_schema_or_partitioning_mismatch_is_an_error_unless_merge(spark, daily_table, backfill, tmp_path):
    out = str(tmp_path / "o")
    shutil.copytree(backfill["whole"], out)  # what run_job(spark, cfg(daily_table, out)) writes, run once
    before = versions(spark, out)
    with pytest.raises(OutputError, match=r"partitioned by \['event_date'\], the config says \[\]"):
        run_job(spark, cfg(daily_table, out, output={"path": out, "partition_by": []}))
    with pytest.raises(OutputError, match=r"new column\(s\) \['w2'\]; column\(s\) \['example_weight'\] no longer produced; set"):
        run_job(spark, cfg(daily_table, out, weight={"column": "w2"}), day("2026-01-01"))
    assert versions(spark, out) == before
    src2 = str(tmp_path / "in2")  # the day the merge run reads
    spark.read.format("delta").load(daily_table).filter("event_date = date'2026-01-01'").withColumn(
        "extra", F.lit("x")).write.format("delta").partitionBy("event_date").save(src2)
    merged = cfg(src2, out, output={"path": out, "partition_by": ["event_date"], "schema_evolution": "merge"})
    run_job(spark, merged, day("2026-01-01"))
    cols = spark.read.format("delta").load(out).columns
    assert "extra" in cols


def test_empty_slice_and_missing_date_column(spark, daily_table, tmp_path):
    out = str(tmp_path / "o")
    with pytest.raises(InputError, match="input has no rows for run date\\(s\\) 2030-01-01"):
        run_job(spark, cfg(daily_table, out), day("2030-01-01"))
    nodate = cfg(daily_table, out, input={"path": daily_table})
    with pytest.raises(InputError, match="a run date needs the input's date column"):
        run_job(spark, nodate, day("2026-01-01"))
    wrong = cfg(daily_table, out, input={"path": daily_table, "date_column": "nope"})
    with pytest.raises(InputError, match="input.date_column: column 'nope' is not in input"):
        run_job(spark, wrong, day("2026-01-01"))


def test_history_after_three_runs(spark, reruns):
    # the reruns fixture's runs: days 1, 2, 1 again, 3; the rerun of day 1 appends its own rows
    reports = reruns["reports"]
    rows = spark.read.format("delta").load(reruns["hist"]).orderBy("run_date", "class").collect()
    assert len(rows) == 8
    assert [(str(r.run_date), r["class"]) for r in rows] == [
        ("2026-01-01", "0"), ("2026-01-01", "0"), ("2026-01-01", "1"), ("2026-01-01", "1"),
        ("2026-01-02", "0"), ("2026-01-02", "1"), ("2026-01-03", "0"), ("2026-01-03", "1"),
    ]
    minority = {r.run_id: r for r in rows if r["class"] == "1"}
    assert set(minority) == {rep.run_id for rep in reports}
    for rep in reports:
        r = minority[rep.run_id]
        assert str(r.run_date) == rep.run_dates.start
        assert r.input_count == rep.input.classes["1"].count
        assert r.output_count == rep.output.classes["1"].count
        assert r.dataset == "daily" and r.degree == rep.degree
    assert {r.factor for r in rows if r["class"] == "0"} == {4.0}


# ---------------------------------------------------------------------------------------------
# Column names with a space (or , ; { } ( ) = tab newline): Delta column mapping, only when needed


@pytest.fixture(scope="module")
def spaced_table(spark, daily_table, tmp_path_factory) -> str:
    """The daily table as Parquet with a space in every name the config uses (no column mapping needed)."""
    path = str(tmp_path_factory.mktemp("spaced") / "tx")
    df = spark.read.format("delta").load(daily_table)
    df.select(*[F.col(c).alias(c.replace("_", " ")) for c in df.columns]).write.parquet(path)
    return path


def spaced_cfg(input_path, **out):
    return parse_config({
        "dataset": "spaced",
        "input": {"path": input_path, "format": "parquet", "date_column": "event date"},
        "label_column": "is fraud",
        "minority_classes": [1],
        "downsampling": {"factor": 4, "seed": 3, "method": "hash", "key_columns": ["transaction id"]},
        "weight": {"column": "example weight"},
        "output": {"partition_by": ["event date"], **out},
    })


def protocol(spark, ref: str) -> tuple[int, int, str | None]:
    row = spark.sql(f"DESCRIBE DETAIL {ref}").first()
    return row.minReaderVersion, row.minWriterVersion, row.properties.get("delta.columnMapping.mode")


@pytest.mark.parametrize("names", ["spaced", "plain"])
def test_catalog_table_with_daily_reruns(spark, daily_table, spaced_table, names):
    name = f"{names}_daily_out"
    spark.sql(f"DROP TABLE IF EXISTS {name}")
    if names == "plain":
        label, date, weight = "is_fraud", "event_date", "example_weight"
        c = cfg(daily_table, None, output={"table": name, "partition_by": [date]})
    else:
        label, date, weight = "is fraud", "event date", "example weight"
        c = spaced_cfg(spaced_table, table=name)
    # Two runs: days 1-2 create the table (CTAS through the catalog), then day 1 again replaces its
    # slice through the catalog with day 2 in the table (what a day-2 run, then a rerun, did in three).
    both = run_job(spark, c, RunDates(*map(__import__("datetime").date.fromisoformat, ("2026-01-01", "2026-01-02"))))
    first = sorted(tuple(r) for r in spark.table(name).collect())
    first_day1 = spark.table(name).filter(f"`{date}` = date'2026-01-01'").count()
    r1b = run_job(spark, c, day("2026-01-01"))  # replaces its slice: same rows, no duplicates
    assert sorted(tuple(r) for r in spark.table(name).collect()) == first
    assert r1b.output.rows == first_day1 and both.output.rows == len(first)
    assert f"`{date}` >= DATE'2026-01-01'" in r1b.output.replace_where
    out_df = spark.table(name)
    assert out_df.columns[-1] == weight and label in out_df.columns
    per_day = {r[0].isoformat(): r[1] for r in out_df.groupBy(date).count().collect()}
    assert set(per_day) == {"2026-01-01", "2026-01-02"}
    assert per_day["2026-01-01"] == r1b.output.rows
    weights = {(r[0], r[1]) for r in out_df.select(label, weight).distinct().collect()}
    assert weights == {(0, 4.0), (1, 1.0)}
    history = spark.sql(f"DESCRIBE HISTORY {name}").orderBy("version").collect()
    assert [h.version for h in history] == [0, 1]
    assert history[0].operation == "CREATE TABLE AS SELECT"
    assert json.loads(history[0].userMetadata)["run_dates"]["start"] == "2026-01-01"  # in the creating commit
    assert json.loads(history[1].userMetadata)["run_id"] == r1b.run_id
    reader, writer, mode = protocol(spark, name)
    assert (mode == "name" and reader >= 2 and writer >= 5) == (names == "spaced")
    detail = spark.sql(f"DESCRIBE DETAIL {name}").first()
    assert list(detail.partitionColumns) == [date]
    assert detail.properties["imbalance_spark.factor.0"] == "4.0"
    assert detail.properties["imbalance_spark.weight_column"] == weight
    spark.sql(f"DROP TABLE {name}")


def test_plain_names_keep_the_low_protocol(spark, reruns):
    # the table the reruns fixture created with a day-1 run, as this test's own run did (and kept
    # after three more slice runs)
    reader, writer, mode = protocol(spark, f"delta.`{reruns['out']}`")
    assert (reader, mode) == (1, None) and writer <= 4


def test_existing_table_without_column_mapping_is_refused_until_altered(spark, daily_table, backfill, tmp_path):
    out = str(tmp_path / "o")
    shutil.copytree(backfill["out"], out)  # what runs of cfg(daily_table, out) wrote: days 1-3, plain names
    v0 = versions(spark, out)
    rows = table_rows(spark, out)
    others = spark.read.format("delta").load(out).filter("event_date <> date'2026-01-02'").count()
    # the input gains a column whose name has a space (as Parquet: no column mapping needed to read it);
    # the day the run reads
    src2 = str(tmp_path / "in2")
    spark.read.format("delta").load(daily_table).filter("event_date = date'2026-01-02'").withColumn(
        "merchant name", F.lit("shop")).write.parquet(src2)
    merge = cfg(src2, out, input={"path": src2, "format": "parquet", "date_column": "event_date"},
                output={"path": out, "partition_by": ["event_date"], "schema_evolution": "merge"})
    with pytest.raises(OutputError) as err:
        run_job(spark, merge, day("2026-01-02"))
    message = str(err.value)
    assert "\n" not in message and "['merchant name']" in message
    assert "reader 2 / writer 5" in message and "rename the columns" in message
    assert versions(spark, out) == v0 and table_rows(spark, out) == rows  # left as it was
    # the fix the message names works as given
    statement = message[message.index("ALTER TABLE"):message.index(" (it raises")]
    assert statement == f"ALTER TABLE delta.`{out}` SET TBLPROPERTIES ('delta.columnMapping.mode' = 'name')"
    spark.sql(statement)
    report = run_job(spark, merge, day("2026-01-02"))
    out_df = spark.read.format("delta").load(out)
    assert out_df.filter("`merchant name` = 'shop'").count() == report.output.rows
    assert out_df.filter("event_date <> date'2026-01-02' AND `merchant name` IS NULL").count() == others
    assert protocol(spark, f"delta.`{out}`")[2] == "name"


def test_report_path_takes_the_run_date_and_a_whole_run_records_the_data_span(backfill):
    reports, one, whole = backfill["reports"], backfill["one"], backfill["everything"]
    assert sorted(p.name for p in reports.iterdir()) == [
        "daily-2026-01-01..2026-01-03.json", "daily-2026-01-01..2026-01-03.png",
        "daily-2026-01-02.json", "daily-2026-01-02.png", "daily-all.json", "daily-all.png",
    ]
    assert json.loads((reports / "daily-2026-01-02.json").read_text())["run_id"] == one.run_id
    assert one.figures == {"run": str(reports / "daily-2026-01-02.png")}
    assert whole.figures == {"run": str(reports / "daily-all.png")}
    # a whole-table run covers the data's dates (from input.date_column), not the day it ran
    assert whole.run_dates == ReportDates("2026-01-01", "2026-01-03", sliced=False)
    assert json.loads((reports / "daily-all.json").read_text())["run_dates"] == {
        "start": "2026-01-01", "end": "2026-01-03", "sliced": False}
