"""The whole job on generated Delta tables: sampling statistics and the Delta round trip.

The generated table is the shared 30k-row one (3% fraud, 3 days: ~900 positives, ~29,100
negatives). At F = 10 the kept majority count's 5-sigma bound is +-256 of ~2,910 (+-8.8%): a
fraction off by a tenth (1/9 for 1/10: +323 rows) is still caught, and so is a factor applied the
wrong way round. Runs of one config share a module fixture; each test asserts on what it left.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from imbalance_spark.config.load import parse_config
from imbalance_spark.errors import GuardError, InputError, OutputError
from imbalance_spark.flows.profile import profile_job
from imbalance_spark.flows.run import RunSeams, run_job


def make_cfg(input_path, output_path, **over):
    data = {
        "dataset": "fraud_test",
        "input": {"path": input_path, "format": "delta"},
        "label_column": "is_fraud",
        "minority_classes": [1],
        "downsampling": {"factor": 10, "seed": 42},
        "output": {"path": output_path, "partition_by": ["event_date"], "mode": "overwrite"},
    }
    data.update(over)
    return parse_config(data)


@pytest.fixture(scope="module")
def input_counts(spark, small_fraud_table) -> dict[int, int]:
    """Rows per class of the input."""
    return dict(spark.read.format("delta").load(small_fraud_table).groupBy("is_fraud").count().collect())


@pytest.fixture(scope="module")
def run(spark, small_fraud_table, tmp_path_factory):
    """The default job (sampleBy, F = 10), with a report and a history table: the run most tests read."""
    out = str(tmp_path_factory.mktemp("out") / "sample")
    reports = tmp_path_factory.mktemp("reports")
    report_path = str(reports / "r.json")
    cfg = make_cfg(small_fraud_table, out, report={"path": report_path}, history={"path": str(reports / "hist")})
    report = run_job(spark, cfg)
    return cfg, report, out, report_path


def test_every_minority_row_kept_and_majority_binomial(spark, small_fraud_table, input_counts, run):
    cfg, report, out, _ = run
    input_df = spark.read.format("delta").load(small_fraud_table)
    output_df = spark.read.format("delta").load(out)
    n_in = input_counts
    n_out = dict(output_df.groupBy("is_fraud").count().collect())
    # every minority row kept: same transaction ids
    fraud_in = input_df.filter("is_fraud = 1").select("transaction_id")
    fraud_out = output_df.filter("is_fraud = 1").select("transaction_id")
    assert fraud_in.exceptAll(fraud_out).count() == 0 and n_out[1] == n_in[1]
    p = 1 / 10
    assert abs(n_out[0] - n_in[0] * p) <= 5 * math.sqrt(n_in[0] * p * (1 - p))
    # kept majority rows are rows of the input, unchanged
    cols = input_df.columns
    assert output_df.select(*cols).exceptAll(input_df).count() == 0


def test_weights_exact_and_totals_back_near_input(spark, input_counts, run):
    _, report, out, _ = run
    output_df = spark.read.format("delta").load(out)
    weights = {(r.is_fraud, r.example_weight) for r in output_df.select("is_fraud", "example_weight").distinct().collect()}
    assert weights == {(0, 10.0), (1, 1.0)}
    n_in = input_counts
    totals = dict(output_df.groupBy("is_fraud").agg(F.sum("example_weight")).collect())
    assert totals[1] == n_in[1]
    sigma_total = 10 * math.sqrt(n_in[0] * 0.1 * 0.9)
    assert abs(totals[0] - n_in[0]) <= 5 * sigma_total
    assert report.output.classes["0"].weight_sum == pytest.approx(totals[0])


def test_delta_round_trip(spark, small_fraud_table, run):
    cfg, report, out, _ = run
    input_df = spark.read.format("delta").load(small_fraud_table)
    output_df = spark.read.format("delta").load(out)
    assert output_df.columns == input_df.columns + ["example_weight"]
    for field in input_df.schema.fields:
        assert output_df.schema[field.name].dataType == field.dataType
    detail = DeltaTable.forPath(spark, out).detail().first()
    assert list(detail.partitionColumns) == ["event_date"]
    history = DeltaTable.forPath(spark, out).history().collect()
    assert len(history) == 1 and history[0].version == 0
    meta = json.loads(history[0].userMetadata)
    assert meta["dataset"] == "fraud_test" and meta["seed"] == 42
    assert meta["factors"] == {"0": 10.0}
    assert meta["rows_in"] == report.input.rows
    assert meta["out"] == {k: v.count for k, v in report.output.classes.items()}
    assert meta["rows_out"] == output_df.count() == report.output.rows


def test_report_contract(input_counts, run):
    _, report, out, report_path = run
    on_disk = json.loads(open(report_path).read())
    assert on_disk["run_id"] == report.run_id
    n_in = input_counts
    assert report.dataset == "fraud_test"
    assert report.degree == "moderate"  # ~3% fraud
    assert report.minority_classes == ["1"] and report.majority_classes == ["0"]
    assert report.input.rows == sum(n_in.values())
    assert report.input.classes["1"].count == n_in[1]
    assert report.input.classes["0"].share == pytest.approx(n_in[0] / sum(n_in.values()))
    assert report.factors == {"0": 10.0, "1": 1.0}
    assert report.seed == 42 and report.duration_s > 0
    assert report.output.classes["1"].count == n_in[1]
    assert report.output.version == 0
    assert report.notes == []
    stages = {"read", "output_check", "profile", "write", "version", "files", "history", "report"}
    assert set(report.stages_s) == stages


def test_report_times_include_the_history_stage(run):
    _, report, _, report_path = run
    assert "history" in report.stages_s and report.stages_s["history"] > 0
    assert report.duration_s >= sum(report.stages_s.values())
    assert json.loads(Path(report_path).read_text())["stages_s"] == report.stages_s


def test_string_labels_multi_class_parquet_input(spark, tmp_path):
    src = str(tmp_path / "in")
    df = spark.range(6_000).select(
        "id",
        F.when(F.col("id") % 100 == 0, "fraud").when(F.col("id") % 3 == 0, "refund").otherwise("ok").alias("kind"),
        (F.col("id") % 4).cast("double").alias("w"),
    )
    df.write.parquet(src)
    out = str(tmp_path / "out")
    cfg = parse_config({
        "dataset": "multi",
        "input": {"path": src, "format": "parquet"},
        "label_column": "kind",
        "minority_classes": ["fraud"],
        "downsampling": {"factor": {"ok": 8, "refund": 2}, "seed": 9},
        "weight": {"column": "ew", "source_column": "w"},
        "output": {"path": out},
    })
    report = run_job(spark, cfg)
    got = spark.read.format("delta").load(out)
    assert report.factors == {"ok": 8.0, "refund": 2.0, "fraud": 1.0}
    counts = dict(got.groupBy("kind").count().collect())
    assert counts["fraud"] == 60
    ratios = {r.kind: r.ratio for r in got.select("kind", (F.col("ew") / F.col("w")).alias("ratio")).filter("w > 0").distinct().collect()}
    assert ratios == {"ok": 8.0, "refund": 2.0}  # fraud ids are multiples of 100: w == 0
    assert got.filter("kind = 'fraud'").agg(F.sum("ew")).first()[0] == 0.0
    in_w = dict(df.groupBy("kind").agg(F.sum("w")).collect())
    assert report.input.classes["ok"].weight_sum == in_w["ok"]


def test_profile_job_hint(spark, small_fraud_table):
    _, plan, summary = profile_job(spark, make_cfg(small_fraud_table, "/tmp/unused-out"))
    assert summary.degree == "moderate"
    assert "brings the minority to about 10%" in summary.hint


def test_missing_label_column_is_typed_error(spark, small_fraud_table, tmp_path):
    cfg = make_cfg(small_fraud_table, str(tmp_path / "o"), label_column="nope")
    with pytest.raises(InputError, match="label_column: column 'nope' is not in input"):
        run_job(spark, cfg)


# --- sampling you can trust: hash method, target share, skip, realized weights, guards ---

def hash_cfg(input_path, output_path, fmt="delta", **over):
    data = {
        "dataset": "hash_test",
        "input": {"path": input_path, "format": fmt},
        "label_column": "is_fraud",
        "minority_classes": [1],
        "downsampling": {"factor": 10, "seed": 7, "method": "hash", "key_columns": ["transaction_id"]},
        "output": {"path": output_path, "partition_by": ["event_date"]},
    }
    data.update(over)
    return parse_config(data)


def kept_ids(spark, path):
    return {r[0] for r in spark.read.format("delta").load(path).select("transaction_id").collect()}


@dataclass(frozen=True)
class HashRun:
    """The hash-sampled job (seed 7, realized weights from ``amount``) run through recording seams."""

    out: str
    report: object
    calls: list[str]


@pytest.fixture(scope="module")
def hash_run(spark, small_fraud_table, tmp_path_factory) -> HashRun:
    """One whole job: hash sampling of the Delta table (partitioned by date), realized weights from ``amount``,
    through seams that record their calls, the last of which writes the output in one task.

    The realized-weights, the seams and the layout tests read it; the other layouts and seeds are
    sampled by the same transform the job calls (``transform.downsample`` with the plan's fractions).
    """
    from imbalance_spark import transform
    from imbalance_spark.tables.write import create_with_properties

    calls = []

    def sampler(*args, **kwargs):
        calls.append("downsample")
        return transform.downsample(*args, **kwargs)

    def create(df, out, user_metadata, properties):
        calls.append("create")
        create_with_properties(df, out, user_metadata, properties)

    def before_write(df):
        calls.append("before_write")
        return df.repartition(1)

    out = str(tmp_path_factory.mktemp("hash") / "o")
    seams = RunSeams(downsample=sampler, create_table=create, before_write=before_write)
    cfg = hash_cfg(small_fraud_table, out, weight={"source_column": "amount", "mode": "realized"})
    return HashRun(out, run_job(spark, cfg, seams=seams), calls)


def hash_sampled_ids(df, seed: int) -> set:
    """The ids the job's sampler keeps of ``df`` at F = 10 (fractions 1/10 and 1, as the job's plan has them)."""
    from imbalance_spark.transform import downsample

    kept = downsample(df, "is_fraud", {0: 1 / 10, 1: 1.0}, seed, "hash", ["transaction_id"])
    return {r[0] for r in kept.select("transaction_id").collect()}


def test_hash_keeps_same_rows_whatever_the_layout(spark, small_fraud_table, hash_run):
    src = spark.read.format("delta").load(small_fraud_table)
    job = kept_ids(spark, hash_run.out)  # read by date partition, written by one task
    one, many = hash_sampled_ids(src.coalesce(1), 7), hash_sampled_ids(src.repartition(13), 7)
    assert job == one == many
    n_major = src.filter("is_fraud = 0").count()
    kept_major = len(job) - src.filter("is_fraud = 1").count()
    assert abs(kept_major - n_major / 10) <= 5 * math.sqrt(n_major * 0.1 * 0.9)
    assert hash_sampled_ids(src, 8) != job


def test_target_share_hits_target_within_binomial_bound(spark, small_fraud_table, tmp_path):
    cfg = make_cfg(small_fraud_table, str(tmp_path / "o"), downsampling={"target_minority_share": 0.25, "seed": 3})
    report = run_job(spark, cfg)
    out = spark.read.format("delta").load(str(tmp_path / "o"))
    n_min = out.filter("is_fraud = 1").count()
    n = out.count()
    assert report.derived_factor > 1 and report.factors["0"] == report.derived_factor
    assert report.output.rows == n
    # the majority kept count is Binomial(M, 1/F): bound the share through it
    m_in = report.input.classes["0"].count
    p = 1 / report.derived_factor
    sd = math.sqrt(m_in * p * (1 - p))
    lo, hi = n_min / (n_min + m_in * p + 5 * sd), n_min / (n_min + m_in * p - 5 * sd)
    assert lo <= 0.25 <= hi
    assert lo <= n_min / n <= hi
    assert set(report.stages_s) == {"read", "output_check", "profile", "check", "write", "version", "files"}


def test_skip_if_degree_writes_unsampled_with_source_weights(spark, tmp_path):
    src = str(tmp_path / "in")
    spark.range(2_000).selectExpr(
        "id as transaction_id", "cast(id % 3 = 0 as int) as is_fraud", "cast(1 + id % 2 as double) as w",
        "date'2026-01-01' as event_date",
    ).write.format("delta").save(src)
    cfg = make_cfg(src, str(tmp_path / "o"), downsampling={"factor": 20, "skip_if_degree": ["mild", "none"]},
                   weight={"source_column": "w"})
    report = run_job(spark, cfg)
    assert report.degree == "mild" and "skip_if_degree" in report.skipped
    out = spark.read.format("delta").load(str(tmp_path / "o"))
    assert out.count() == 2_000
    assert out.filter("example_weight != w").count() == 0


def test_realized_weights_restore_totals_exactly(spark, small_fraud_table, hash_run):
    out, report = hash_run.out, hash_run.report
    in_totals = dict(spark.read.format("delta").load(small_fraud_table).groupBy("is_fraud").agg(
        F.sum("amount")).collect())
    out_totals = dict(spark.read.format("delta").load(out).groupBy("is_fraud").agg(
        F.sum("example_weight")).collect())
    for cls in (0, 1):
        assert out_totals[cls] == pytest.approx(in_totals[cls], rel=1e-9)
    # F = 10 on ~29,100 negatives: the realized factor is within 5.7 binomial sigmas of 10 at rel=0.1
    assert report.factors["0"] == 10.0
    assert report.realized_factors["0"] != 10.0 and report.realized_factors["0"] == pytest.approx(10.0, rel=0.1)
    assert report.output.classes["0"].weight_sum == pytest.approx(in_totals[0], rel=1e-9)


@pytest.fixture(scope="module")
def boolean_labels(spark, tmp_path_factory):
    """10,000 rows with a boolean label (every 40th true) and 10 null keys: refused by hash, then null_keys allow.

    Returns the refusal, the output and the report of the run that allowed the null keys.
    """
    base = tmp_path_factory.mktemp("bools")
    src, out = str(base / "in"), str(base / "o")
    spark.range(10_000).selectExpr(
        "case when id % 1000 = 5 then null else id end as transaction_id", "id % 40 = 0 as fraud",
    ).write.format("delta").save(src)
    data = {
        "dataset": "bools",
        "input": {"path": src},
        "label_column": "fraud",
        "downsampling": {"factor": 8, "seed": 2, "method": "hash", "key_columns": ["transaction_id"]},
        "output": {"path": out},
    }
    with pytest.raises(InputError) as refused:
        run_job(spark, parse_config(data))
    allowed = {**data, "downsampling": {**data["downsampling"], "null_keys": "allow"}}
    return refused.value, out, run_job(spark, parse_config(allowed))


def test_hash_null_keys_are_an_error_unless_allowed(boolean_labels):
    refused, _, allowed = boolean_labels
    assert re.search(r"downsampling.key_columns: 10 row\(s\) have a null key", str(refused))
    assert allowed.output.rows > 0


def test_boolean_labels_and_prior_correction_properties(spark, boolean_labels):
    _, out, report = boolean_labels
    assert report.minority_classes == ["true"] and report.majority_classes == ["false"]
    assert report.logit_offsets == {"false": pytest.approx(math.log(1 / 8))}
    props = DeltaTable.forPath(spark, out).detail().first().properties
    assert props["imbalance_spark.factor.false"] == "8.0"
    assert float(props["imbalance_spark.logit_offset.false"]) == pytest.approx(math.log(1 / 8))
    assert props["imbalance_spark.method"] == "hash" and props["imbalance_spark.seed"] == "2"
    assert props["imbalance_spark.weight_column"] == "example_weight"
    assert props["delta.dataSkippingStatsColumns"] == "example_weight"  # no statistics for a boolean label
    assert DeltaTable.forPath(spark, out).history().count() == 1  # created with its properties in one commit
    got = spark.read.format("delta").load(out)
    assert got.filter("fraud").count() == 250


def file_stats_columns(path):
    """The columns with min/max statistics in the data files the latest commit added."""
    log = sorted((Path(path) / "_delta_log").glob("*.json"))[-1]
    columns = set()
    for line in log.read_text().splitlines():
        add = json.loads(line).get("add")
        if add and add.get("stats"):
            columns |= set(json.loads(add["stats"]).get("minValues", {}))
    return columns


def table_state(spark, out) -> tuple[list[int], int]:
    """The versions of a table's history and its row count."""
    return [h.version for h in DeltaTable.forPath(spark, out).history().collect()], spark.read.format(
        "delta").load(out).count()


@pytest.fixture(scope="module")
def reruns(spark, small_fraud_table, run, tmp_path_factory):
    """Runs into a copy of the module run's output (version 0): a failed guard, error_if_exists refused, an
    overwrite with the same config, then two that change output.stats_columns (["amount"], then "all"), each
    looked at as it left the table.
    """
    out = str(tmp_path_factory.mktemp("reruns") / "o")
    shutil.copytree(run[2], out)
    seen = {"default": (file_stats_columns(out), DeltaTable.forPath(spark, out).detail().first().properties)}

    def drop_some_fraud(df):
        return df.filter("not (is_fraud = 1 and transaction_id % 7 = 0)")

    before_guard = table_state(spark, out)
    with pytest.raises(GuardError) as guard:
        run_job(spark, make_cfg(small_fraud_table, out), sample_hook=drop_some_fraud)
    after_guard = table_state(spark, out)
    with pytest.raises(OutputError) as refused:
        run_job(spark, make_cfg(small_fraud_table, out, output={"path": out, "mode": "error_if_exists"}))
    commits_after_refusal = DeltaTable.forPath(spark, out).history().count()
    overwritten = run_job(spark, make_cfg(small_fraud_table, out))  # the same config again
    seen["overwrite"] = (overwritten, spark.read.format("delta").load(out).count())
    for stats in (["amount"], "all"):
        report = run_job(spark, make_cfg(small_fraud_table, out, output={
            "path": out, "partition_by": ["event_date"], "stats_columns": stats}))
        seen[str(stats)] = (file_stats_columns(out), DeltaTable.forPath(spark, out).detail().first().properties,
                            report, spark.read.format("delta").load(out).count())
    return {"out": out, "guard": guard.value, "before_guard": before_guard, "after_guard": after_guard,
            "refused": refused.value, "commits_after_refusal": commits_after_refusal, "seen": seen}


def test_failed_guard_leaves_existing_table_untouched(reruns):
    assert re.search(r"sample guard failed, nothing written .* minority class 1: [\d,]+ of [\d,]+ rows kept",
                     str(reruns["guard"]))
    assert reruns["after_guard"] == reruns["before_guard"]


def test_error_if_exists_leaves_table(reruns):
    assert isinstance(reruns["refused"], OutputError)
    assert "already exists and output.mode is error_if_exists" in str(reruns["refused"])
    assert reruns["commits_after_refusal"] == 1


def test_overwrite_is_one_new_commit(reruns):
    report, rows = reruns["seen"]["overwrite"]
    assert report.output.version == 1
    assert rows == report.output.rows


def test_file_statistics_only_for_the_configured_columns(spark, reruns):
    # default: label and weight (the date column is the partition column here)
    columns, props = reruns["seen"]["default"]
    assert props["delta.dataSkippingStatsColumns"] == "is_fraud,example_weight"
    assert columns == {"is_fraud", "example_weight"}
    # a changed setting applies to the very run that changes it
    columns, _, _, _ = reruns["seen"]["['amount']"]
    assert columns == {"amount"}
    # "all": Delta's default, every (non-partition) column
    columns, props, _, _ = reruns["seen"]["all"]
    assert "delta.dataSkippingStatsColumns" not in props
    expected = set(spark.read.format("delta").load(reruns["out"]).columns) - {"event_date"}
    assert columns == expected


def test_unknown_stats_column_is_an_input_error(spark, small_fraud_table, tmp_path):
    cfg = make_cfg(small_fraud_table, str(tmp_path / "out"),
                   output={"path": str(tmp_path / "out"), "partition_by": ["event_date"], "stats_columns": ["nope"]})
    with pytest.raises(InputError, match=r"output.stats_columns: column 'nope' is not in input"):
        run_job(spark, cfg)
    src = str(tmp_path / "in")  # a few rows of the table's columns and a boolean one
    spark.read.format("delta").load(small_fraud_table).limit(50).withColumn("flag", F.lit(True)).write.format(
        "delta").save(src)
    cfg = make_cfg(src, str(tmp_path / "out"), output={"path": str(tmp_path / "out"), "stats_columns": ["flag"]})
    with pytest.raises(InputError, match=r"output.stats_columns: column 'flag' has type boolean, which Delta keeps no"):
        run_job(spark, cfg)
    assert not (tmp_path / "out").exists()


def test_run_seams_replace_the_sampler_the_table_creation_and_the_last_transform(spark, hash_run):
    from imbalance_spark import transform

    assert hash_run.calls == ["downsample", "before_write", "create"]
    out = Path(hash_run.out)
    assert spark.read.format("delta").load(str(out)).count() == hash_run.report.output.rows
    # one task wrote everything: one file per event_date partition
    per_partition = [len(list(d.glob("*.parquet"))) for d in out.iterdir() if d.name.startswith("event_date=")]
    assert len(per_partition) == 3 and set(per_partition) == {1}
    assert RunSeams().downsample is transform.downsample and RunSeams().before_write is None
