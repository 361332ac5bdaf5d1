"""Writing: daily slices with replaceWhere, idempotent reruns, backfills, concurrency, schema checks, history."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from dataclasses import dataclass

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from imbalance_spark.common.dates import RunDates
from imbalance_spark.config.load import parse_config
from imbalance_spark.errors import ConfigError, InputError, OutputError
from imbalance_spark.flows.run import run_job
from imbalance_spark.report.models import ReportDates, RunReport


@pytest.fixture(scope="module")
def daily_table(spark, tmp_path_factory) -> str:
    """6k transactions over 3 days (2026-01-01..03), 5% fraud (~100 a day), partitioned by event_date.

    The size hardly changes what a run costs (its Spark jobs do); the checks here compare rows
    and counts, and the hash sampler's guards hold at any size."""
    from imbalance_spark.synthetic import write_demo_table

    path = str(tmp_path_factory.mktemp("daily") / "tx")
    write_demo_table(spark, path, rows=6_000, fraud_rate=0.05, days=3, seed=21)
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
    return RunDates(*(2 * [dt.date.fromisoformat(d)]))


def days(start: str, end: str) -> RunDates:
    return RunDates(dt.date.fromisoformat(start), dt.date.fromisoformat(end))


def table_rows(spark, path):
    return sorted(tuple(r) for r in spark.read.format("delta").load(path).collect())


def versions(spark, path):
    return DeltaTable.forPath(spark, path).history().count()


@pytest.fixture(scope="module")
def backfill(spark, daily_table, tmp_path_factory):
    """Day 2 (creates the table), then a backfill of all three days into it, then the whole table
    into another one with ``output.mode: error_if_exists`` (a new table: created as any other).

    Also writes each run's report (``report.path`` with ``{run_date}``), which the tables ignore:
    the backfill, slice, mode and report-path tests read the same three runs.
    """
    root = tmp_path_factory.mktemp("backfill")
    reports = root / "reports"
    report = {"path": str(reports / "daily-{run_date}.json")}
    out, whole = str(root / "o"), str(root / "w")
    c = cfg(daily_table, out, report=report)
    one = run_job(spark, c, day("2026-01-02"))
    span = run_job(spark, c, days("2026-01-01", "2026-01-03"))
    # no run date: the whole table
    everything = run_job(spark, cfg(daily_table, whole, report=report,
                                    output={"path": whole, "partition_by": ["event_date"], "mode": "error_if_exists"}))
    return {"out": out, "whole": whole, "reports": reports, "one": one, "span": span, "everything": everything}


def test_backfill_covers_every_date_in_one_commit(spark, backfill):
    assert versions(spark, backfill["out"]) == 2
    assert table_rows(spark, backfill["out"]) == table_rows(spark, backfill["whole"])
    report = backfill["span"]
    assert report.run_dates.start == "2026-01-01" and report.run_dates.end == "2026-01-03"
    # the day-2 run created the table with its slice; the backfill replaced day 2 and added days 1 and 3
    assert backfill["one"].output.mode == "replace_slice" and "event_date" in report.output.replace_where


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
    # each rerun replaced its day with the same rows: the whole table, run once
    assert table_rows(spark, out) == table_rows(spark, backfill["whole"])


def test_output_modes(spark, daily_table, backfill, tmp_path):
    out = str(tmp_path / "o")
    with pytest.raises(ConfigError, match="replace_slice needs a run date"):
        run_job(spark, cfg(daily_table, out, output={"path": out, "mode": "replace_slice"}))
    with pytest.raises(ConfigError, match="would replace the whole table with one slice"):
        run_job(spark, cfg(daily_table, out, output={"path": out, "mode": "overwrite"}), day("2026-01-01"))
    # the backfill fixture's whole-table run created its new table with mode error_if_exists
    whole = backfill["whole"]
    assert backfill["everything"].output.mode == "error_if_exists" and versions(spark, whole) == 1
    with pytest.raises(OutputError, match="already exists"):
        run_job(spark, cfg(daily_table, whole, output={"path": whole, "mode": "error_if_exists"}))
    assert versions(spark, whole) == 1


def test_schema_or_partitioning_mismatch_is_an_error_unless_merge(spark, daily_table, backfill, tmp_path):
    out = str(tmp_path / "o")
    shutil.copytree(backfill["whole"], out)  # what run_job(spark, cfg(daily_table, out)) writes, run once
    before = versions(spark, out)
    # another partitioning and another weight column: one refusal names both, and the way out
    mismatched = cfg(daily_table, out, weight={"column": "w2"}, output={"path": out, "partition_by": []})
    with pytest.raises(OutputError) as err:
        run_job(spark, mismatched, day("2026-01-01"))
    message = str(err.value)
    assert r"partitioned by ['event_date'], the config says []" in message
    assert "new column(s) ['w2']; column(s) ['example_weight'] no longer produced; set" in message
    assert versions(spark, out) == before
    src2 = str(tmp_path / "in2")  # the day the merge run reads
    spark.read.format("delta").load(daily_table).filter("event_date = date'2026-01-01'").withColumn(
        "extra", F.lit("x")).write.parquet(src2)
    merged = cfg(src2, out, input={"path": src2, "format": "parquet", "date_column": "event_date"},
                 output={"path": out, "partition_by": ["event_date"], "schema_evolution": "merge"})
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


@dataclass(frozen=True)
class CatalogReruns:
    """Two runs on a catalog table: days 1-2 create it, then day 1 again replaces its slice."""

    name: str
    label: str
    date: str
    weight: str
    hist: str | None  # the history table's path (the plain runs only)
    both: RunReport  # the creating run (days 1-2)
    rerun: RunReport  # day 1 again
    first: list[tuple]  # the table's rows after the creating run
    first_day1: int  # its day-1 rows
    after: list[tuple]  # the table's rows after the rerun


def _catalog_reruns(spark, names: str, daily_table: str, spaced_table: str | None, hist: str | None) -> CatalogReruns:
    """Days 1-2 (CTAS through the catalog), then day 1 again (its slice replaced through the catalog,
    day 2 in the table: what a day-1 run, a day-2 run, then a rerun did in three)."""
    name = f"{names}_daily_out"
    spark.sql(f"DROP TABLE IF EXISTS {name}")
    if names == "plain":
        label, date, weight = "is_fraud", "event_date", "example_weight"
        c = cfg(daily_table, None, output={"table": name, "partition_by": [date]}, history={"path": hist})
    else:
        label, date, weight = "is fraud", "event date", "example weight"
        c = spaced_cfg(spaced_table, table=name)
    both = run_job(spark, c, days("2026-01-01", "2026-01-02"))
    first = sorted(tuple(r) for r in spark.table(name).collect())
    first_day1 = spark.table(name).filter(f"`{date}` = date'2026-01-01'").count()
    rerun = run_job(spark, c, day("2026-01-01"))
    after = sorted(tuple(r) for r in spark.table(name).collect())
    return CatalogReruns(name, label, date, weight, hist, both, rerun, first, first_day1, after)


@pytest.fixture(scope="module")
def catalog_reruns(spark, daily_table, tmp_path_factory, request):
    """``catalog_reruns(names)``: the two runs of "plain" (history table on) or "spaced" names, run once."""
    done: dict[str, CatalogReruns] = {}

    def get(names: str) -> CatalogReruns:
        if names not in done:
            spaced = request.getfixturevalue("spaced_table") if names == "spaced" else None
            hist = str(tmp_path_factory.mktemp("history") / "h") if names == "plain" else None
            done[names] = _catalog_reruns(spark, names, daily_table, spaced, hist)
        return done[names]

    yield get
    for runs in done.values():
        spark.sql(f"DROP TABLE IF EXISTS {runs.name}")


def test_run_date_replaces_only_its_slice_and_reruns_are_idempotent(spark, daily_table, catalog_reruns):
    runs = catalog_reruns("plain")
    history = spark.sql(f"DESCRIBE HISTORY {runs.name}").orderBy("version").collect()
    assert [h.version for h in history] == [0, 1]  # one new version per run
    assert runs.after == runs.first  # same rows, no duplicates
    assert runs.rerun.output.rows == runs.first_day1
    dates = {r[0] for r in spark.table(runs.name).select("event_date").distinct().collect()}
    assert {d.isoformat() for d in dates} == {"2026-01-01", "2026-01-02"}
    assert runs.both.output.mode == runs.rerun.output.mode == "replace_slice"
    assert "event_date" in runs.rerun.output.replace_where
    meta = json.loads(history[1].userMetadata)
    assert meta["run_dates"] == {"start": "2026-01-01", "end": "2026-01-01", "sliced": True}
    assert meta["input_version"] == 0 and meta["config_sha256"] is None and meta["tool"].startswith("imbalance-spark")
    # only the slice was read: input counts are that day's
    n_day = spark.read.format("delta").load(daily_table).filter("event_date = '2026-01-01'").count()
    assert runs.rerun.input.rows == n_day


def test_history_after_two_runs(spark, catalog_reruns):
    # the plain catalog runs: days 1-2, then day 1 again; each run appends its own rows, one per class
    runs = catalog_reruns("plain")
    reports = [runs.both, runs.rerun]
    rows = spark.read.format("delta").load(runs.hist).orderBy("run_date", "class", "run_end_date").collect()
    assert len(rows) == 4
    assert [(str(r.run_date), str(r.run_end_date), r["class"]) for r in rows] == [
        ("2026-01-01", "2026-01-01", "0"), ("2026-01-01", "2026-01-02", "0"),
        ("2026-01-01", "2026-01-01", "1"), ("2026-01-01", "2026-01-02", "1"),
    ]
    minority = {r.run_id: r for r in rows if r["class"] == "1"}
    assert set(minority) == {rep.run_id for rep in reports}
    for rep in reports:
        r = minority[rep.run_id]
        assert str(r.run_date) == rep.run_dates.start and str(r.run_end_date) == rep.run_dates.end
        assert r.input_count == rep.input.classes["1"].count
        assert r.output_count == rep.output.classes["1"].count
        assert r.dataset == "daily" and r.degree == rep.degree
    assert {r.factor for r in rows if r["class"] == "0"} == {4.0}


@pytest.mark.parametrize("names", ["spaced", "plain"])
def test_catalog_table_with_daily_reruns(spark, catalog_reruns, names):
    runs = catalog_reruns(names)
    name, label, date, weight = runs.name, runs.label, runs.date, runs.weight
    assert runs.after == runs.first  # the rerun replaced its slice: same rows, no duplicates
    assert runs.rerun.output.rows == runs.first_day1 and runs.both.output.rows == len(runs.first)
    assert f"`{date}` >= DATE'2026-01-01'" in runs.rerun.output.replace_where
    out_df = spark.table(name)
    assert out_df.columns[-1] == weight and label in out_df.columns
    per_day = {r[0].isoformat(): r[1] for r in out_df.groupBy(date).count().collect()}
    assert set(per_day) == {"2026-01-01", "2026-01-02"}
    assert per_day["2026-01-01"] == runs.rerun.output.rows
    weights = {(r[0], r[1]) for r in out_df.select(label, weight).distinct().collect()}
    assert weights == {(0, 4.0), (1, 1.0)}
    history = spark.sql(f"DESCRIBE HISTORY {name}").orderBy("version").collect()
    assert [h.version for h in history] == [0, 1]
    assert history[0].operation == "CREATE TABLE AS SELECT"
    assert json.loads(history[0].userMetadata)["run_dates"]["start"] == "2026-01-01"  # in the creating commit
    assert json.loads(history[1].userMetadata)["run_id"] == runs.rerun.run_id
    reader, writer, mode = protocol(spark, name)
    assert (mode == "name" and reader >= 2 and writer >= 5) == (names == "spaced")
    detail = spark.sql(f"DESCRIBE DETAIL {name}").first()
    assert list(detail.partitionColumns) == [date]
    assert detail.properties["imbalance_spark.factor.0"] == "4.0"
    assert detail.properties["imbalance_spark.weight_column"] == weight


def test_plain_names_keep_the_low_protocol(spark, backfill):
    # the path table the backfill fixture created with a day-2 run (and kept after the backfill)
    reader, writer, mode = protocol(spark, f"delta.`{backfill['out']}`")
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


def test_tables_created_at_once_on_threads_of_one_session_keep_their_own_commit_metadata(spark, tmp_path):
    # CREATE TABLE AS SELECT takes its userMetadata from the session conf, which threads share: each
    # creation sets it under one lock, so no table commits another's (4 pairs started at a barrier)
    from imbalance_spark.config.models import OutputConfig
    from imbalance_spark.tables.write import create_with_properties

    df = spark.range(50).select("id", (F.col("id") % 2).alias("y"))
    barrier = threading.Barrier(2)
    errors = []

    def create(name: str) -> None:
        try:
            barrier.wait(timeout=60)
            create_with_properties(df, OutputConfig(path=str(tmp_path / name)), json.dumps({"run": name}), {})
        except Exception as exc:  # noqa: BLE001 (reported below, on the test's thread)
            errors.append(exc)

    names = [f"t{pair}{side}" for pair in range(4) for side in "ab"]
    for pair in range(4):
        threads = [threading.Thread(target=create, args=(n,)) for n in names[2 * pair:2 * pair + 2]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    for name in names:
        (meta,) = [r.userMetadata for r in DeltaTable.forPath(spark, str(tmp_path / name)).history().collect()]
        assert json.loads(meta) == {"run": name}
    assert spark.conf.get("spark.databricks.delta.commitInfo.userMetadata", None) is None
