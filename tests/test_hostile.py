"""Hostile inputs: quoted names, numeric labels, partition explosions, and a matrix of refusals.

Every refusal is checked through the real CLI ``main()`` (in process, for speed): a non-zero
exit, one line naming the problem and the fix, no stack trace, an existing output left at its
version and nothing written for a new one.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from delta.tables import DeltaTable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from imbalance_spark.cli import main
from imbalance_spark.common.dates import RunDates
from imbalance_spark.config.load import parse_config
from imbalance_spark.config.models import JobConfig
from imbalance_spark.errors import InputError, OutputError
from imbalance_spark.flows.profile import profile_job
from imbalance_spark.flows.run import run_job
from imbalance_spark.report.models import ProfileSummary, RunReport
from imbalance_spark.tables.delta_log import listed_version
from imbalance_spark.tables.history import read_history
from imbalance_spark.transform import column

ROWS = 12_000


def vacuum_all(spark, path: str) -> None:
    """What VACUUM with zero retention does, without its slow Spark jobs: delete every data file
    the latest version does not reference (the log still lists them for older versions)."""
    live = {os.path.basename(f) for f in spark.read.format("delta").load(path).inputFiles()}
    for folder, _, files in os.walk(path):
        if "_delta_log" in folder:
            continue
        for name in files:
            if name.endswith(".parquet") and name not in live:
                os.remove(os.path.join(folder, name))


# ---------------------------------------------------------------------------------------------
# Case 2: configured names that need quoting work everywhere a config names a column


QUOTED = {
    "label": "is.fraud.ü",
    "key": "tx`id",
    "date": "event.date",
    "weight_src": "src.weight",
    "weight": "ex.weight`w`",
    "stats": "amount€",
    "nested": "nested.struct",
    "field": "b",
}
# Names Delta holds only with column mapping: a space and each of , ; { } ( ) = tab newline.
SPACED = {
    "label": "is fraud",
    "key": "tx id;(pk)",
    "date": "event date",
    "weight_src": "src weight {raw}",
    "weight": "example weight=F",
    "stats": "amount,\teur",
    "nested": "meta data",
    "field": "b c",
}
NAME_SETS = {"quoted": QUOTED, "spaced": SPACED}


def write_named_table(spark, path: str, q: dict) -> None:
    """6,000 rows over three days, a 5% minority, partitioned by the date: every role named by ``q``.

    Created in SQL, with column mapping when a name needs it (as the job creates its output)."""
    from imbalance_spark.tables.inspect import names_needing_mapping

    df = spark.range(6_000).select(
        F.col("id").alias(q["key"]),
        (F.col("id") % 20 == 0).cast("int").alias(q["label"]),
        F.expr("date_add(date'2026-03-01', cast(id % 3 as int))").alias(q["date"]),
        (F.lit(1.0) + (F.col("id") % 2)).alias(q["weight_src"]),
        (F.col("id") * 0.5).alias(q["stats"]),
        F.struct(F.col("id").alias("a"), F.lit("x").alias(q["field"])).alias(q["nested"]),
    )
    mapping = " TBLPROPERTIES ('delta.columnMapping.mode' = 'name')" if names_needing_mapping(df.schema) else ""
    view = f"named_input_{abs(hash(path))}"  # one per table: the two are written at the same time
    df.createOrReplaceTempView(view)
    date = "`" + q["date"].replace("`", "``") + "`"
    spark.sql(f"CREATE TABLE delta.`{path}` USING delta PARTITIONED BY ({date}){mapping} AS SELECT * FROM {view}")
    spark.catalog.dropTempView(view)


@pytest.fixture(scope="module")
def quoted_table(named_runs_by_set) -> str:
    return named_runs_by_set["quoted"].table


def named_config(q: dict, table: str, out: str, history: str, method: str) -> JobConfig:
    """The config naming every role by ``q``: the date, label, key, weights, partitions, stats columns."""
    ds = {"factor": 4, "seed": 5, "method": method}
    if method == "hash":
        ds["key_columns"] = [q["key"]]
    return parse_config({
        "dataset": "quoted",
        "input": {"path": table, "date_column": q["date"]},
        "label_column": q["label"],
        "minority_classes": [1],
        "downsampling": ds,
        "weight": {"column": q["weight"], "source_column": q["weight_src"]},
        "output": {"path": out, "partition_by": [q["date"]], "stats_columns": [q["label"], q["stats"]]},
        "history": {"path": history},
    })


@dataclass(frozen=True)
class NamedRuns:
    """Three runs into one output with every role named by ``q``, and what the tests read of it."""

    names: str
    q: dict
    cfg: JobConfig
    summary: ProfileSummary
    first: RunReport
    second: RunReport
    again: RunReport
    in_df: DataFrame
    out_df: DataFrame
    out: str
    table: str  # the input


def _named_runs(spark, names: str, root: Path) -> NamedRuns:
    """The name set's input table, its profile and its three runs (see below)."""
    q, table = NAME_SETS[names], str(root / "in")
    write_named_table(spark, table, q)
    out, history = str(root / "out"), str(root / "history")
    by_sample, by_hash = (named_config(q, table, out, history, m) for m in ("sampleBy", "hash"))
    day1, day2 = RunDates(dt.date(2026, 3, 1), dt.date(2026, 3, 1)), RunDates(dt.date(2026, 3, 2), dt.date(2026, 3, 2))
    _, _, summary = profile_job(spark, by_sample, day1)
    first = run_job(spark, by_sample, day1)  # creates the table (properties, stats columns)
    second = run_job(spark, by_hash, day2)  # replaceWhere on an existing table, observed metrics
    again = run_job(spark, by_hash, day2)  # idempotent rerun of the same slice
    in_df, out_df = spark.read.format("delta").load(table), spark.read.format("delta").load(out)
    return NamedRuns(names, q, by_hash, summary, first, second, again, in_df, out_df, out, table)


# Each name set's output is written by three runs, each of them doing what the matrix of one
# output per (method, name set) did with three runs each: day 1 with sampleBy creates the table
# (properties, stats columns; the label in sampleBy's fractions), day 2 with hash (the key in the
# hash) replaces its slice on the existing table (replaceWhere on the date, observed metrics, the
# changed method's properties), and the same day again is the idempotent rerun. Every method
# meets every name set, and each write path every name set, in a third of the runs.
# One name set after the other: a new table's CTAS passes its commit metadata through the session's
# conf (tables/write.create_with_properties), which threads of one session share, so two runs creating
# tables at once on threads of one session could commit each other's metadata.
@pytest.fixture(scope="module")
def named_runs_by_set(spark, tmp_path_factory) -> dict[str, NamedRuns]:
    return {n: _named_runs(spark, n, tmp_path_factory.mktemp(f"named_{n}")) for n in NAME_SETS}


@pytest.fixture(params=list(NAME_SETS))
def named_runs(request, named_runs_by_set) -> NamedRuns:
    return named_runs_by_set[request.param]


def test_quoted_names_keep_every_minority_row_and_downsample_the_rest(named_runs):
    r, q = named_runs, named_runs.q
    assert r.summary.minority_classes == ["1"]
    assert r.out_df.columns == r.in_df.columns + [q["weight"]]
    assert r.out_df.count() == r.first.output.rows + r.again.output.rows  # day 2 replaced, not duplicated
    in_counts, out_counts = (
        {(str(row.d), row.y): row["count"] for row in df.groupBy(column(q["date"]).alias("d"), column(q["label"]).alias("y")).count().collect()}
        for df in (r.in_df, r.out_df)
    )
    for report, day in ((r.first, "2026-03-01"), (r.again, "2026-03-02")):
        n_minor = in_counts[(day, 1)]
        assert out_counts[(day, 1)] == n_minor  # every minority row kept
        n_major = in_counts[(day, 0)]
        kept = out_counts[(day, 0)]
        assert abs(kept - n_major / 4) <= 5 * math.sqrt(n_major * 0.25 * 0.75)
        assert report.output.classes["0"].count == kept
    assert r.second.output.classes == r.again.output.classes


def test_quoted_names_weight_the_rows_and_carry_the_nested_struct(named_runs):
    r, q = named_runs, named_runs.q
    # the weight is the source weight x F for the majority, the source weight for the minority
    w = r.out_df.select(
        (column(q['weight']) / column(q['weight_src'])).alias("m"), column(q['label']).alias("y")
    ).distinct().collect()
    assert {(row.y, row.m) for row in w} == {(0, 4.0), (1, 1.0)}
    # the nested struct (a field name with a space) is carried as it was
    assert r.out_df.schema[q["nested"]].dataType == r.in_df.schema[q["nested"]].dataType


def test_quoted_names_in_the_table_properties_and_partitions(spark, named_runs):
    r, q = named_runs, named_runs.q
    detail = DeltaTable.forPath(spark, r.out).detail().first()
    assert list(detail.partitionColumns) == [q["date"]]
    quoted_stats = ",".join("`" + q[k].replace("`", "``") + "`" for k in ("label", "stats"))
    assert detail.properties["delta.dataSkippingStatsColumns"] == quoted_stats
    assert detail.properties["imbalance_spark.factor.0"] == "4.0"
    assert detail.properties["imbalance_spark.method"] == "hash"  # the last run's method, altered after its data
    # column mapping (reader 2 / writer 5) only where a name needs it: dots and backticks do not
    mapped = r.names == "spaced"
    assert detail.properties.get("delta.columnMapping.mode") == ("name" if mapped else None)
    assert (detail.minReaderVersion >= 2) == mapped and (detail.minWriterVersion >= 5) == mapped
    # each data file holds one date: the table is partitioned by it, whatever the folders are called
    per_file = r.out_df.groupBy(F.col("_metadata.file_path")).agg(F.countDistinct(column(q["date"])).alias("n"))
    assert {row.n for row in per_file.collect()} == {1}


def test_quoted_names_in_the_history_table(spark, named_runs):
    hist = read_history(spark, named_runs.cfg.history)
    assert hist.filter("class = '1'").count() == 3


def test_nested_struct_beside_the_label_is_carried_and_a_path_is_not_a_name(spark, quoted_table, tmp_path):
    cfg = parse_config({
        "dataset": "nested", "input": {"path": quoted_table}, "label_column": "nested.struct.a",
        "downsampling": {"factor": 2}, "output": {"path": str(tmp_path / "o")},
    })
    with pytest.raises(InputError, match=r"'nested.struct.a' is not in input"):
        run_job(spark, cfg)
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------------
# Case 3: integral numeric labels (MLlib's 0.0/1.0) are classes; non-integral ones are refused


NUMERIC_LABELS = ["float", "double", "decimal(10,2)", "smallint", "tinyint"]


def _label_of(dtype: str) -> str:
    return "label_" + "".join(ch for ch in dtype if ch.isalnum())


@pytest.fixture(scope="module")
def numeric_labels_table(spark, tmp_path_factory) -> str:
    """One Delta commit for every dtype case: 5,000 rows, a label column of each type (4% minority)."""
    path = str(tmp_path_factory.mktemp("numeric") / "in")
    minority = (F.col("id") % 25 == 0).cast("int")
    spark.range(5_000).select("id", *[minority.cast(t).alias(_label_of(t)) for t in NUMERIC_LABELS]).write.format(
        "delta").save(path)
    return path


# Each type on the steps a run takes it through (profile, plan, sample, weight, the table's
# properties), the same functions run_job calls, on one input read once: the type matters where a
# class key is made from a value (the profile's counts and predicted kept rows, the sample's
# fractions, the weights, the property names), not in the Delta write. The whole job, its write
# and report, runs on a double label in the next test.
@pytest.mark.parametrize("dtype", NUMERIC_LABELS)
def test_integral_numeric_labels_are_classes_keyed_like_integers(spark, numeric_labels_table, dtype):
    from imbalance_spark.flows.run import table_properties
    from imbalance_spark.plan import plan_sampling
    from imbalance_spark.profile import profile_classes
    from imbalance_spark.transform import sample_input, select_output, with_plan_weight

    label = _label_of(dtype)
    cfg = parse_config({
        "dataset": "numeric", "input": {"path": numeric_labels_table}, "label_column": label,
        "minority_classes": [1], "downsampling": {"factor": 5, "seed": 3}, "output": {"path": "/unused/out"},
    })
    in_df = spark.read.format("delta").load(numeric_labels_table)
    plan = plan_sampling(profile_classes(in_df, cfg), cfg)
    assert [c.key for c in plan.classes] == ["0", "1"] and plan.minority_keys == ["1"]
    assert {c.key: c.factor for c in plan.classes} == {"0": 5.0, "1": 1.0}
    out_df = sample_input(in_df, cfg, plan).transform(with_plan_weight, cfg, plan).transform(
        select_output, in_df.columns, cfg.weight.column)
    assert out_df.schema[label].dataType.simpleString() == T._parse_datatype_string(dtype).simpleString()
    rows = out_df.groupBy(F.col(label).alias("label"), "example_weight").count().collect()
    assert {(int(r.label), r.example_weight) for r in rows} == {(0, 5.0), (1, 1.0)}
    counts = {int(r.label): r["count"] for r in rows}
    assert counts[1] == 200  # every minority row
    assert abs(counts[0] - 4_800 / 5) <= 5 * math.sqrt(4_800 * 0.2 * 0.8)
    # the kept count the report gives for a new table: the profile's prediction, drawn as the sample is
    assert {c.key: c.predicted_kept for c in plan.classes} == {"0": counts[0], "1": 200}
    props = table_properties(cfg, plan, out_df.schema)
    assert props["imbalance_spark.factor.0"] == "5.0" and "imbalance_spark.factor.0.0" not in props


def test_double_labels_with_hash_and_a_factor_mapping_keyed_1_0(spark, tmp_path):
    path, out = str(tmp_path / "in"), str(tmp_path / "out")
    spark.range(9_000).select("id", (F.col("id") % 3).cast("double").alias("y")).write.parquet(path)
    cfg = parse_config({
        "dataset": "multi", "input": {"path": path, "format": "parquet"}, "label_column": "y",
        "minority_classes": [2.0], "downsampling": {"factor": {0.0: 3, 1: 2}, "method": "hash", "key_columns": ["id"]},
        "output": {"path": out},
    })
    report = run_job(spark, cfg)
    assert report.classes == ["0", "1", "2"] and report.minority_classes == ["2"]
    assert report.factors == {"0": 3.0, "1": 2.0, "2": 1.0}
    assert report.output.classes["2"].count == 3_000
    out_df = spark.read.format("delta").load(out)
    assert out_df.schema["y"].dataType == T.DoubleType()
    rows = out_df.groupBy("y", "example_weight").count().collect()
    assert {(r.y, r.example_weight) for r in rows} == {(0.0, 3.0), (1.0, 2.0), (2.0, 1.0)}
    counts = {int(r.y): r["count"] for r in rows}
    assert counts[2] == 3_000  # every minority row
    for cls, factor in ((0, 3), (1, 2)):
        p = 1 / factor
        assert abs(counts[cls] - 3_000 * p) <= 5 * math.sqrt(3_000 * p * (1 - p))
        assert report.output.classes[str(cls)].count == counts[cls]
    props = DeltaTable.forPath(spark, out).detail().first().properties
    assert props["imbalance_spark.factor.0"] == "3.0" and props["imbalance_spark.factor.1"] == "2.0"
    assert not any(k.startswith(("imbalance_spark.factor.0.", "imbalance_spark.factor.1.")) for k in props)


@pytest.mark.parametrize("values, shown", [((0.0, 1.0, 0.5), "0.5"), ((0.0, 1.0, float("nan")), "nan")])
def test_non_integral_labels_are_refused_as_a_regression_target(spark, tmp_path, values, shown):
    df = spark.createDataFrame([(i, values[i % 3]) for i in range(30)], "id long, y double")
    cfg = parse_config({
        "dataset": "reg", "input": {"path": "/in"}, "label_column": "y", "downsampling": {"factor": 2},
        "output": {"path": str(tmp_path / "o")},
    })
    from imbalance_spark.profile import profile_classes

    with pytest.raises(InputError, match=rf"non-integral value\(s\) \(e.g. {shown}\): a regression target"):
        profile_classes(df, cfg)


# ---------------------------------------------------------------------------------------------
# Case 4: partitioning by a high-cardinality column is refused before anything is written


# The refusal through the job (nothing written, one line) is the matrix's too-many-partitions case
# below; here the estimate and the limit, on the profile and the check run_job calls after it.
def test_partition_explosion_is_refused_naming_column_and_estimate(spark):
    from imbalance_spark.profile import profile_classes
    from imbalance_spark.tables.inspect import check_partition_count

    in_df = spark.range(5_000).select("id", (F.col("id") % 10 == 0).cast("int").alias("y"), (F.col("id") % 4).alias("shard"))
    base = {"dataset": "p", "input": {"path": "/unused/in"}, "label_column": "y", "downsampling": {"factor": 2}}

    def profiled(**output):
        cfg = parse_config({**base, "output": {"path": "/unused/out", **output}})
        return cfg.output, profile_classes(in_df, cfg)

    out, wide = profiled(partition_by=["shard", "id"])
    with pytest.raises(OutputError, match=r"would write about [\d,]+ partitions \(column 'id' has ~[\d,]+ distinct values\), more than output.max_partitions 1,000") as err:
        check_partition_count(out, wide.partitions, wide.partitions_by_column)
    estimate = int(str(err.value).split("about ")[1].split(" ")[0].replace(",", ""))
    assert 4_500 <= estimate <= 5_500  # HyperLogLog++, 5% relative error
    assert wide.partitions_by_column[0] == 4 and wide.rows == 5_000
    # a low-cardinality column passes, at the limit; so does a raised limit
    out, narrow = profiled(partition_by=["shard"], max_partitions=4)
    assert narrow.partitions == 4
    check_partition_count(out, narrow.partitions, narrow.partitions_by_column)
    raised = parse_config({**base, "output": {"path": "/unused/out", "partition_by": ["shard", "id"], "max_partitions": 10_000}})
    check_partition_count(raised.output, wide.partitions, wide.partitions_by_column)


# ---------------------------------------------------------------------------------------------
# The matrix: each hostile input or config is refused in one line, nothing written


# Session-scoped: the slow tests below run after every fast test of the session (conftest), when a
# module fixture would be built a second time for them.
@pytest.fixture(scope="session")
def lake(spark, tmp_path_factory):
    """Small hostile inputs, built once, and an existing output table to keep untouched.

    The small inputs are written on a thread meanwhile (one session, two jobs at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path_factory.mktemp("lake")
    pool = ThreadPoolExecutor(max_workers=1)
    small = pool.submit(_small_inputs, spark, root)
    pool.shutdown(wait=False)
    good = str(root / "good")
    spark.range(ROWS).select(
        "id",
        (F.col("id") % 10 == 0).cast("int").alias("y"),
        F.expr("date_add(date'2026-01-01', cast(id % 3 as int))").alias("d"),
        F.when(F.col("id") % 4 == 0, 0.5).otherwise(F.col("id") % 2).cast("double").alias("y_half"),
        (F.col("id") % 2).cast("decimal(10,3)").alias("y_dec"),
        F.when(F.col("id") % 10 == 0, Decimal("0.250")).otherwise(Decimal("1.000")).cast("decimal(10,3)").alias("y_dec_frac"),
        F.expr("timestamp'2026-01-01 00:00:00' + make_interval(0, 0, 0, 0, cast(id % 48 as int), 0, 0)").alias("ts"),
        F.struct((F.col("id") * 0.1).alias("score"), F.lit("t").alias("tag")).alias("meta"),
        F.concat(F.lit("u"), F.col("id").cast("string")).alias("user_id"),
        F.when(F.col("id") == 7, None).otherwise(F.col("id") % 2).cast("int").alias("y_null"),
        F.when(F.col("id") == 3, -1.0).otherwise(1.0).alias("w_neg"),
        F.lit(1.0).alias("example_weight_src"),
    ).write.format("delta").save(good)
    existing = str(root / "existing_out")
    run_job(spark, parse_config({
        "dataset": "existing", "input": {"path": good}, "label_column": "y", "downsampling": {"factor": 2},
        "output": {"path": existing, "partition_by": ["d"]},
    }))
    return {"good": good, "existing": existing, **small.result(), "missing": str(root / "no_such_table"), "root": str(root)}


def _small_inputs(spark, root: Path) -> dict[str, str]:
    """The lake's small inputs, none of them read by another: odd files, folders, names and a vacuumed history."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dupcase = str(root / "dupcase")
    os.makedirs(dupcase)
    pq.write_table(pa.table({"y": [0, 1, 0], "Y": [1, 1, 0]}), os.path.join(dupcase, "part-0.parquet"))
    hive = str(root / "hive")
    spark.range(300).select("id", (F.col("id") % 10 == 0).cast("int").alias("y"), F.expr("date_add(date'2026-01-01', cast(id % 3 as int))").alias("d")).write.partitionBy("d").parquet(hive)
    empty = str(root / "empty_dir")
    os.makedirs(empty)
    csv_file = str(root / "one.csv")
    Path(csv_file).write_text("id,y\n1,0\n2,1\n")
    vacuumed = str(root / "vacuumed")
    spark.range(100).select("id", (F.col("id") % 10 == 0).cast("int").alias("y")).write.format("delta").save(vacuumed)
    spark.range(100).select("id", (F.col("id") % 5 == 0).cast("int").alias("y")).write.format("delta").mode("overwrite").save(vacuumed)
    vacuum_all(spark, vacuumed)
    spaced = str(root / "spaced")
    spark.range(100).select("id", (F.col("id") % 10 == 0).cast("int").alias("is fraud")).write.parquet(spaced)
    not_delta_out = str(root / "not_delta_out")
    os.makedirs(not_delta_out)
    Path(not_delta_out, "notes.txt").write_text("mine")
    return {
        "dupcase": dupcase, "hive": hive, "hive_part": hive + "/d=2026-01-02", "empty": empty, "csv_file": csv_file,
        "vacuumed": vacuumed, "spaced": spaced, "not_delta_out": not_delta_out,
    }


def _config(lake: dict, **over) -> dict:
    data = {
        "dataset": "hostile",
        "input": {"path": lake["good"]},
        "label_column": "y",
        "minority_classes": [1],
        "downsampling": {"factor": 2, "seed": 1},
        "output": {"path": None},
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def _fill(value, lake):
    """Replace "@name" strings by the lake's paths, recursively."""
    if isinstance(value, str) and value.startswith("@"):
        name, _, rest = value[1:].partition("/")
        return lake[name] + ("/" + rest if rest else "")
    if isinstance(value, dict):
        return {k: _fill(v, lake) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, lake) for v in value]
    return value


def assert_refused(capsys, argv: list[str], needles: tuple[str, ...]) -> tuple[int, str]:
    """Run the CLI; one error line holding every needle, no trace, a non-zero exit."""
    code = main(argv)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("imbalance-spark:")]
    assert code != 0, err
    assert len(ours) == 1, err
    assert "Traceback" not in err and "py4j" not in err.lower(), err
    assert not any(line.lstrip().startswith("at ") or "Exception" in line for line in lines), err
    assert out == "", out
    for needle in needles:
        assert needle in ours[0], ours[0]
    return code, ours[0]


# (id, config overrides with "@lake" paths, extra CLI args, needles: the problem and the fix)
SPARK_CASES = [
    # odd types
    ("label-timestamp", {"label_column": "ts"}, [], ("column 'ts' has type timestamp", "expected a class label")),
    ("label-struct", {"label_column": "meta"}, [], ("column 'meta' has type struct", "expected a class label")),
    ("label-double-non-integral", {"label_column": "y_half"}, [], ("non-integral value(s) (e.g. 0.5)", "bucket it into classes")),
    ("label-decimal-non-integral", {"label_column": "y_dec_frac", "minority_classes": None}, [], ("non-integral value(s) (e.g. 0.250)", "bucket it")),
    ("label-is-an-id", {"label_column": "user_id", "minority_classes": None}, [], ("more than 10,000 distinct values", "choose the class column")),
    ("nested-path-as-name", {"weight": {"source_column": "meta.score"}}, [], ("'meta.score' is not in input", "select the field into its own column")),
    ("source-weight-a-string", {"weight": {"source_column": "user_id"}}, [], ("has type string", "expected a numeric weight")),
    ("negative-source-weight", {"weight": {"source_column": "w_neg"}}, [], ("1 row(s) have a null, negative", "'w_neg'")),
    ("null-labels", {"label_column": "y_null"}, [], ("1 row(s) have a null 'y_null'", "set `null_labels: drop`")),
    ("name-with-a-space-into-a-table-without-column-mapping", {"input": {"path": "@spaced", "format": "parquet"}, "label_column": "is fraud", "output": {"path": "@existing"}}, [], ("['is fraud']", "can hold only with Delta column mapping", "ALTER TABLE delta.`", "SET TBLPROPERTIES ('delta.columnMapping.mode' = 'name')", "reader 2 / writer 5")),
    ("date-column-a-struct", {"input": {"date_column": "meta"}}, ["--run-date", "2026-01-01"], ("input.date_column: column 'meta' has type struct", "expected a date")),
    # odd names
    ("label-case-differs", {"label_column": "Y"}, [], ("column 'Y' is not in input", "did you mean 'y'?")),
    ("key-case-differs", {"downsampling": {"method": "hash", "key_columns": ["ID"]}}, [], ("column 'ID' is not in input", "did you mean 'id'?")),
    ("weight-clashes-by-case", {"weight": {"column": "Example_Weight_Src"}}, [], ("column 'example_weight_src' already exists", "choose another name")),
    ("columns-differ-only-in-case", {"input": {"path": "@dupcase", "format": "parquet"}}, [], ("differ only in case", "rename or drop one")),
    ("unknown-unicode-label", {"label_column": "étiquette"}, [], ("column 'étiquette' is not in input", "columns: id, y")),
    # odd layouts
    ("hive-partition-folder", {"input": {"path": "@hive_part", "format": "parquet", "date_column": "d"}}, ["--run-date", "2026-01-02"], ("partition folder 'd=2026-01-02'", "set input.path to the table's root folder")),
    ("empty-folder", {"input": {"path": "@empty", "format": "parquet"}}, [], ("cannot be read", "empty_dir")),
    ("empty-slice", {"input": {"date_column": "d"}}, ["--run-date", "2030-01-01"], ("no rows for run date(s) 2030-01-01", "'y' label")),
    ("missing-input", {"input": {"path": "@missing"}}, [], ("no_such_table does not exist",)),
    ("csv-file-as-delta", {"input": {"path": "@csv_file"}}, [], ("is not a Delta table (no _delta_log)", "set input.format")),
    ("delta-declared-csv", {"input": {"path": "@good", "format": "csv"}}, [], ("is a Delta table", "set input.format: delta")),
    # odd histories
    ("pinned-version-vacuumed", {"input": {"path": "@vacuumed", "version": 0}}, [], ("input.version: version 0 of", "VACUUM", "pin a later version")),
    ("pinned-version-missing", {"input": {"version": 9}}, [], ("input.version: 9 does not exist (latest is 0)",)),
    ("pinned-timestamp-too-early", {"input": {"timestamp": "2000-01-01T00:00:00"}}, [], ("before the table's first version",)),
    # odd outputs
    ("too-many-partitions", {"output": {"partition_by": ["user_id"]}}, [], ("would write about", "column 'user_id'", "raise output.max_partitions")),
    ("output-not-delta", {"output": {"path": "@not_delta_out"}}, [], ("exists and is not a Delta table", "refusing to overwrite", "point output.path at a new folder")),
    ("output-other-partitioning", {"output": {"path": "@existing", "partition_by": []}}, [], ("partitioned by ['d']", "schema_evolution: merge")),
    ("output-error-if-exists", {"output": {"path": "@existing", "mode": "error_if_exists"}}, [], ("already exists", "error_if_exists")),
    ("run-date-without-date-column", {}, ["--run-date", "2026-01-01"], ("input.date_column", "needs the input's date column")),
]


@pytest.mark.parametrize("case_id, over, args, needles", SPARK_CASES, ids=[c[0] for c in SPARK_CASES])
def test_hostile_input_is_refused_in_one_line(spark, lake, tmp_path, capsys, case_id, over, args, needles):
    data = _fill(_config(lake, **over), lake)
    if data["output"]["path"] is None:
        # alternate between a new output (nothing may appear) and the existing one (left at its version)
        data["output"]["path"] = lake["existing"] if SPARK_CASES.index(next(c for c in SPARK_CASES if c[0] == case_id)) % 2 else str(tmp_path / "new_out")
    if data.get("minority_classes") is None:
        data.pop("minority_classes", None)
    target = data["output"]["path"]
    before = listed_version(target)
    listing = sorted(os.listdir(target)) if os.path.isdir(target) else None
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    assert_refused(capsys, ["run", "--config", str(config), "-q", *args], needles)
    assert listed_version(target) == before
    assert (sorted(os.listdir(target)) if os.path.isdir(target) else None) == listing


# Odd configs: refused before Spark starts (validate and run alike).
CONFIG_CASES = [
    ("factor-below-one", {"downsampling": {"factor": 0.5}}, ("downsampling.factor", "finite number >= 1")),
    ("factor-a-word", {"downsampling": {"factor": "ten"}}, ("downsampling.factor", "must be a number >= 1")),
    ("factor-infinite", {"downsampling": {"factor": float("inf")}}, ("downsampling.factor", "finite number")),
    ("unknown-key", {"labelcolumn": "y"}, ("labelcolumn: unknown key",)),
    ("minority-empty", {"minority_classes": []}, ("minority_classes: the list is empty", "omit the key")),
    ("minority-non-integral", {"minority_classes": [0.5]}, ("class 0.5 is not a class label", "expected an integer")),
    ("max-partitions-zero", {"output": {"max_partitions": 0}}, ("output.max_partitions", "greater than or equal to 1")),
    ("path-and-table", {"input": {"table": "db.t"}}, ("input: set exactly one of `path` or `table`",)),
    ("version-and-timestamp", {"input": {"version": 1, "timestamp": "2026-01-01"}}, ("either `version` or `timestamp`",)),
    ("pin-on-parquet", {"input": {"format": "parquet", "version": 1}}, ("pin only a Delta input",)),
    ("weight-is-label-by-case", {"weight": {"column": "Y"}}, ("weight.column: must differ from label_column",)),
    ("partition-twice-by-case", {"output": {"partition_by": ["d", "D"]}}, ("output.partition_by", "names a column twice")),
    ("partition-by-label", {"output": {"partition_by": ["y"]}}, ("the label column cannot be a partition column",)),
    ("stats-on-partition", {"output": {"partition_by": ["d"], "stats_columns": ["d"]}}, ("output.stats_columns", "partition columns")),
    ("output-inside-input", {"output": {"path": "@good/out"}}, ("output.path", "inside input.path")),
    ("hash-without-keys", {"downsampling": {"method": "hash"}}, ("method hash needs `key_columns`",)),
    ("sigmas-negative", {"guards": {"sigmas": -1}}, ("guards.sigmas", "positive number")),
    ("mode-unknown", {"output": {"mode": "append"}}, ("output.mode", "overwrite")),
    ("env-missing", {"input": {"path": "${NO_SUCH_VAR_FOR_TEST}/x"}}, ("${NO_SUCH_VAR_FOR_TEST}", "not set")),
]


@pytest.mark.parametrize("case_id, over, needles", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_odd_config_is_refused_before_spark(lake, tmp_path, capsys, case_id, over, needles):
    data = _fill(_config(lake, **over), lake)
    if data["output"].get("path") is None:
        data["output"]["path"] = str(tmp_path / "new_out")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    code, _ = assert_refused(capsys, ["validate", "--config", str(config)], needles)
    assert code == 2
    assert assert_refused(capsys, ["run", "--config", str(config), "-q"], needles)[0] == 2
    assert not (tmp_path / "new_out").exists()


@pytest.mark.parametrize(
    "text, needles",
    [
        ("- just\n- a list\n", ("expected a YAML mapping",)),
        ("dataset: [unclosed\n", ("not valid YAML at line",)),
        ("", ("expected a YAML mapping", "NoneType")),
    ],
    ids=["yaml-list", "yaml-broken", "yaml-empty"],
)
def test_unreadable_config_is_refused(tmp_path, capsys, text, needles):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    assert assert_refused(capsys, ["run", "--config", str(config), "-q"], needles)[0] == 2


def test_bad_run_dates_are_refused(lake, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(_fill(_config(lake, input={"date_column": "d"}, output={"path": str(tmp_path / "o")}), lake)))
    assert_refused(capsys, ["run", "--config", str(config), "-q", "--run-date", "2026-13-01"], ("--run-date", "expected YYYY-MM-DD"))
    assert_refused(capsys, ["run", "--config", str(config), "-q", "--start-date", "2026-01-03", "--end-date", "2026-01-01"], ("--end-date", "is before --start-date"))
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------------
# Hostile inputs the job must read correctly


def test_label_column_named_like_a_metric_and_hive_folders(spark, lake, tmp_path):
    path = str(tmp_path / "in")
    spark.read.parquet(lake["hive"]).withColumnRenamed("y", "count").write.partitionBy("d").parquet(path)
    cfg = parse_config({
        "dataset": "h", "input": {"path": path, "format": "parquet", "date_column": "d"}, "label_column": "count",
        "minority_classes": [1], "downsampling": {"factor": 3}, "output": {"path": str(tmp_path / "o"), "partition_by": ["d"]},
    })
    report = run_job(spark, cfg, RunDates(dt.date(2026, 1, 2), dt.date(2026, 1, 2)))
    assert report.input.rows == 100  # the Hive folder d=2026-01-02 only
    assert report.input.classes["1"].count == 10


def test_deletion_vectors_and_many_small_files(spark, tmp_path):
    path = str(tmp_path / "dv")
    # 12 files from 12 partitions of the range (no shuffle); the option sets the table property on creation
    spark.range(0, 4_000, 1, 12).select("id", (F.col("id") % 10 == 0).cast("int").alias("y")).write.format(
        "delta").option("delta.enableDeletionVectors", "true").save(path)
    assert DeltaTable.forPath(spark, path).detail().first().properties["delta.enableDeletionVectors"] == "true"
    DeltaTable.forPath(spark, path).delete("id % 2 = 1")
    assert len([f for f in os.listdir(path) if f.endswith(".parquet")]) >= 12
    assert any(f.startswith("deletion_vector") for f in os.listdir(path))
    report = run_job(spark, parse_config({
        "dataset": "dv", "input": {"path": path}, "label_column": "y", "minority_classes": [1],
        "downsampling": {"factor": 1}, "output": {"path": str(tmp_path / "o")},
    }))
    assert report.input.rows == 2_000 and report.output.rows == 2_000


def test_delta_input_overwritten_and_vacuumed_between_runs(spark, tmp_path):
    path, out = str(tmp_path / "in"), str(tmp_path / "o")
    spark.range(1_000).select("id", (F.col("id") % 10 == 0).cast("int").alias("y")).write.format("delta").save(path)
    cfg = parse_config({
        "dataset": "ov", "input": {"path": path}, "label_column": "y", "minority_classes": [1],
        "downsampling": {"factor": 1}, "output": {"path": out},
    })
    assert run_job(spark, cfg).input.rows == 1_000
    spark.range(500).select("id", (F.col("id") % 5 == 0).cast("int").alias("y")).write.format("delta").mode("overwrite").save(path)
    vacuum_all(spark, path)
    second = run_job(spark, cfg)
    assert second.input_version == 1 and second.input.rows == 500
    assert spark.read.format("delta").load(out).count() == 500


# ---------------------------------------------------------------------------------------------
# Two runs of the same date at once: one may lose, cleanly; never duplicates


def test_two_concurrent_runs_of_the_same_date_never_duplicate(spark, lake, tmp_path):
    out = str(tmp_path / "o")
    # The existing output's settings (factor 2, the default seed), so its copy is a table these runs
    # write to as they are: no property commit, only each run's data commit.
    cfg = parse_config({
        "dataset": "race", "input": {"path": lake["good"], "date_column": "d"}, "label_column": "y",
        "minority_classes": [1], "downsampling": {"factor": 2}, "output": {"path": out, "partition_by": ["d"]},
    })
    day = RunDates(dt.date(2026, 1, 2), dt.date(2026, 1, 2))
    shutil.copytree(lake["existing"], out)  # the table exists (a run of the job wrote it), day 2 in it
    before = listed_version(out)
    barrier = threading.Barrier(2)
    results: list = []

    def hold_until_both_sampled(df):
        barrier.wait(timeout=120)  # both runs have read and checked the same version before writing
        return df

    def one_run():
        try:
            results.append(run_job(spark, cfg, day, sample_hook=hold_until_both_sampled))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    reports = [r for r in results if isinstance(r, RunReport)]
    errors = [r for r in results if not isinstance(r, RunReport)]
    assert reports, errors
    for exc in errors:
        assert isinstance(exc, OutputError) and "run it again" in str(exc) and "\n" not in str(exc), repr(exc)
    assert listed_version(out) == before + len(reports)  # one commit per run that did not lose
    written = spark.read.format("delta").load(out).filter("d = date'2026-01-02'")
    assert written.count() == written.select("id").distinct().count() == reports[-1].output.rows
    assert written.count() == reports[0].output.rows  # both samples equal: same seed, same version


# ---------------------------------------------------------------------------------------------
# A run killed at each stage leaves the output as it was, and the next run succeeds


class _Killed(BaseException):
    """Stands for SIGKILL in process: a BaseException, so no ``except Exception`` in the job sees it."""


def _kill_setup(lake, tmp_path, existing: bool) -> tuple[str, Path, dict]:
    out = str(tmp_path / "o")
    if existing:
        shutil.copytree(lake["existing"], out)
    data = _config(lake, output={"path": out, "partition_by": ["d"]})
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(data))
    return out, config, data


def _assert_next_run_commits(spark, capsys, config: Path, out: str, before: int | None) -> RunReport | None:
    """The next run commits (a changed seed also commits the table properties after the data); its printed report."""
    assert main(["run", "--config", str(config), "-q", "--json"]) == 0
    printed = capsys.readouterr().out
    after = listed_version(out)
    assert after is not None and (before is None or after > before)
    out_df = spark.read.format("delta").load(out)
    assert out_df.count() == out_df.select("id").distinct().count()  # no duplicate from the killed run
    return json.loads(printed)


# In process, the real CLI run is stopped at the moment a killed process would die (as the stage
# starts and logs " read: "), with an exception nothing in the job catches. The output is not
# opened for writing before the write stage: a property of run_job's order of steps, the same code
# in and out of process, so kills in the read and profile stages need no process of their own
# (they were 4 more JVMs, 11-16 s each). The write stage, the only one that touches the output, is
# killed for real below, once per output state.
@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_run_stopped_at_read_or_profile_leaves_output_as_it_was(spark, lake, tmp_path, monkeypatch, capsys, existing):
    from imbalance_spark.flows.timer import StageTimer

    out, config, _ = _kill_setup(lake, tmp_path, existing)
    before = listed_version(out)
    listing = sorted(os.listdir(out)) if existing else None
    real_stage = StageTimer.stage
    for stage in ("read", "profile"):
        def stage_dies(self, name, what, _stage=stage):
            if name == _stage:
                raise _Killed(name)
            return real_stage(self, name, what)

        monkeypatch.setattr(StageTimer, "stage", stage_dies)
        with pytest.raises(_Killed, match=stage):
            main(["run", "--config", str(config), "-q"])
        monkeypatch.setattr(StageTimer, "stage", real_stage)
        assert listed_version(out) == before
        assert (sorted(os.listdir(out)) if existing else os.path.exists(out) or None) == listing
    _assert_next_run_commits(spark, capsys, config, out, before)


# ---------------------------------------------------------------------------------------------
# What only a real process shows, three processes at once
#
# A killed process (SIGKILL: no except, no finally, no cleanup) and a refusal's whole stderr (the
# JVM's own log4j lines and py4j's, which capsys never sees). The three processes run side by
# side: a cold JVM leaves a core idle much of its start (measured: two runs of the CLI at once took
# 18 s, one after the other 27 s), and none of them reads what another writes.


@dataclass
class _Process:
    """A real process of the job: its command, where its output goes, and the moment it is killed."""

    argv: list[str]
    cwd: Path  # its own folder: where Spark may create spark-warehouse or metastore_db
    kill_when: Callable[[], bool] | None = None  # None: left to finish
    killed: bool = False
    code: int | None = None
    text: str = ""


def _data_files(path: str) -> set[Path]:
    """The table's data files (not the log's checkpoints)."""
    return {p for p in Path(path).rglob("*.parquet") if "_delta_log" not in p.parts}


def _run_side_by_side(processes: list[_Process], timeout: float = 300) -> None:
    """Start every process at once; kill each (its whole group) as soon as its ``kill_when`` holds; wait for all."""
    import signal
    import subprocess
    import time

    from tests.conftest import cli_env

    started = []
    for p in processes:
        with open(p.cwd / "output.log", "w") as log:
            started.append(subprocess.Popen(p.argv, stdout=log, stderr=subprocess.STDOUT, env=cli_env(), cwd=p.cwd,
                                            start_new_session=True))
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(s.poll() is None for s in started):
            for p, s in zip(processes, started, strict=True):
                if not p.killed and p.kill_when is not None and s.poll() is None and p.kill_when():
                    os.killpg(s.pid, signal.SIGKILL)
                    p.killed = True
            time.sleep(0.02)
    finally:
        for s in started:
            if s.poll() is None:
                os.killpg(s.pid, signal.SIGKILL)
            s.wait(timeout=60)
    for p, s in zip(processes, started, strict=True):
        p.code, p.text = s.returncode, (p.cwd / "output.log").read_text()


@dataclass(frozen=True)
class _KillCase:
    """One output a real process was killed writing, as the test found it right after the kill."""

    process: _Process
    out: str
    config: Path  # the config of the next run, in process
    before: int | None  # the output's version before the killed run
    after_kill: int | None  # ... and after it
    rows_before: int | None
    rows_after_kill: int | None
    history_before: list[int]
    history_after_kill: list[int]


@dataclass(frozen=True)
class _RealProcesses:
    new: _KillCase
    existing: _KillCase
    refusal: _Process
    refusal_out: Path


def _table_facts(spark, out: str) -> tuple[int | None, int | None, list[int]]:
    """The output's version, rows and the versions of its history (None and [] when there is no table)."""
    version = listed_version(out)
    if version is None:
        return None, None, []
    history = [h.version for h in DeltaTable.forPath(spark, out).history().collect()]
    return version, spark.read.format("delta").load(out).count(), history


def _spark_submit(*args: str) -> list[str]:
    """spark-submit of jobs/downsample.py with the cached Delta jars, started quickly (as tests/test_jobs.py)."""
    import pyspark

    from imbalance_spark.session import QUICK_START_JAVA_OPTION
    from tests.conftest import REPO_ROOT, delta_jars_args

    return [
        str(Path(pyspark.__file__).parent / "bin" / "spark-submit"), "--master", "local[2]", *delta_jars_args(),
        "--conf", "spark.ui.enabled=false", "--driver-java-options", QUICK_START_JAVA_OPTION,
        str(REPO_ROOT / "jobs" / "downsample.py"), *args,
    ]


def _cli(*args: str) -> list[str]:
    import sys

    return [sys.executable, "-m", "imbalance_spark.cli", *args]


# Two code paths put a refusal on stderr: a Spark job that fails inside the JVM and is translated to
# an InputError (pinned-version-vacuumed: a data file gone, the noisiest stderr a run can have), and
# a check in Python that raises an InputError itself. The second is shown by a real process in
# tests/test_jobs.py (a submit refused on a missing input); its other cases here (delta-declared-csv,
# label-double-non-integral) stay checked in process by test_hostile_input_is_refused_in_one_line.
REFUSED_IN_A_PROCESS = "pinned-version-vacuumed"


@pytest.fixture(scope="module")
def real_processes(spark, lake, tmp_path_factory) -> _RealProcesses:
    """A CLI run killed as it starts writing a new output; a spark-submit killed mid-write into an
    existing one (its first new data file seen: Delta commits only after every task has written its
    files and the driver has checked the log, seconds later in a fresh JVM); a refused CLI run."""
    root = tmp_path_factory.mktemp("processes")
    for name in ("new", "existing", "refusal"):
        (root / name).mkdir()
    new_out, new_config, new_data = _kill_setup(lake, root / "new", False)
    # the existing output's own settings (factor 2, the default seed): the next run is one commit
    existing_out, existing_config, data = _kill_setup(lake, root / "existing", True)
    data["downsampling"].pop("seed")
    existing_config.write_text(yaml.safe_dump(data))
    # the CLI process starts its JVM quickly (spark.quick_start); the next run is in process
    new_killed = root / "new" / "killed.yaml"
    new_killed.write_text(yaml.safe_dump({**new_data, "spark": {"quick_start": True}}))
    _, over, args, _ = next(c for c in SPARK_CASES if c[0] == REFUSED_IN_A_PROCESS)
    refusal = _fill(_config(lake, **over, spark={"quick_start": True}), lake)
    refusal_out = root / "refusal" / "new_out"
    refusal["output"]["path"] = str(refusal_out)
    refusal_config = root / "refusal" / "c.yaml"
    refusal_config.write_text(yaml.safe_dump(refusal, allow_unicode=True))

    states = {out: _table_facts(spark, out) for out in (new_out, existing_out)}
    existing_files = _data_files(existing_out)
    processes = [
        _Process(_cli("run", "--config", str(new_killed)), root / "new",
                 lambda: " write: " in (root / "new" / "output.log").read_text()),
        _Process(_spark_submit("--config", str(existing_config)), root / "existing",
                 lambda: bool(_data_files(existing_out) - existing_files)),
        _Process(_cli("run", "--config", str(refusal_config), "-q", *args), root / "refusal"),
    ]
    _run_side_by_side(processes)
    cases = []
    for process, out, config in zip(processes, (new_out, existing_out), (new_config, existing_config), strict=False):
        version, rows, history = states[out]
        after_version, after_rows, after_history = _table_facts(spark, out)
        cases.append(_KillCase(process, out, config, version, after_version, rows, after_rows, history, after_history))
    return _RealProcesses(cases[0], cases[1], processes[2], refusal_out)


@pytest.mark.slow
@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_run_killed_at_a_stage_leaves_output_as_it_was(real_processes, existing):
    case = real_processes.existing if existing else real_processes.new
    assert case.process.killed and case.process.code == -9, case.process.text
    assert " write: " in case.process.text  # killed in the write stage, the only one that touches the output
    assert case.after_kill == case.before  # the killed run committed nothing
    assert case.history_after_kill == case.history_before
    assert case.rows_after_kill == case.rows_before  # the previous version whole (no table: none at all)


@pytest.mark.slow
@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_the_run_after_a_killed_one_succeeds(spark, capsys, real_processes, existing):
    case = real_processes.existing if existing else real_processes.new
    report = _assert_next_run_commits(spark, capsys, case.config, case.out, case.before)
    out_df = spark.read.format("delta").load(case.out)
    assert out_df.count() == report["output"]["rows"]
    if existing:
        assert listed_version(case.out) == case.before + 1  # the data commit only, on the killed run's version


@pytest.mark.slow
def test_refusal_in_a_real_subprocess_has_no_jvm_trace(real_processes):
    proc, needles = real_processes.refusal, next(c for c in SPARK_CASES if c[0] == REFUSED_IN_A_PROCESS)[3]
    lines = [line for line in proc.text.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("imbalance-spark:")]
    assert proc.code == 3, proc.text
    assert len(ours) == 1 and all(n in ours[0] for n in needles), proc.text
    assert "Traceback" not in proc.text
    assert not any(line.startswith(("\tat ", "  at ")) or line.lstrip().startswith("at org.") for line in lines), proc.text
    assert not real_processes.refusal_out.exists()
