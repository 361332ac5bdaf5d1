"""The report's ``output_files`` section from per-file counts (plain Python, no Spark), and its console line;
one whole run on an output that maps column names (its files name the label otherwise)."""

from __future__ import annotations

import json
import logging

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StructField, StructType

from imbalance_spark.config.load import parse_config
from imbalance_spark.flows.file_order import _file_name, label_schema
from imbalance_spark.flows.run import run_job
from imbalance_spark.report.build import output_files_section, random_batches_without_minority
from imbalance_spark.report.models import FileCounts
from imbalance_spark.tables.files import AddedFile, column_in_files, data_file_path, parse_added_files


def test_random_order_share_is_binomial_per_batch():
    # 300 rows at 10%: two full batches at 0.9^128 and a batch of 44 rows at 0.9^44
    assert random_batches_without_minority(300, 30, 128) == pytest.approx(2 * 0.9**128 + 0.9**44)
    assert random_batches_without_minority(256, 0, 128) == 2  # no minority row: every batch empty
    assert random_batches_without_minority(0, 0, 128) == 0


def test_section_spreads_and_batches():
    files = [
        FileCounts(rows=256, minority_rows=128, size=1000, batches_with_minority=1),  # a block: 1 of 2
        FileCounts(rows=100, minority_rows=10, size=500, batches_with_minority=1),
        FileCounts(rows=0, minority_rows=0, size=10, batches_with_minority=0),
    ]
    s = output_files_section(files, "input", 128, max_records_per_file=None)
    assert s.files == 3 and s.batches == 3 and s.batches_without_minority == 1
    assert s.share_without_minority == pytest.approx(1 / 3)
    assert s.random_share_without_minority == pytest.approx((2 * 0.5**128 + 0.9**100) / 3)
    p = 138 / 356  # the output's share, pooled over the files
    assert s.pooled_random_share_without_minority == pytest.approx((2 * (1 - p) ** 128 + (1 - p) ** 100) / 3)
    assert (s.minority_share.min, s.minority_share.median, s.minority_share.max) == (0.1, 0.3, 0.5)
    assert (s.rows_per_file.min, s.rows_per_file.median, s.rows_per_file.max) == (0, 100, 256)
    assert s.as_dict()["bytes_per_file"] == {"min": 10, "median": 500, "max": 1000}


def test_no_files():
    s = output_files_section([], "mixed", 128)
    assert s.files == 0 and s.batches == 0 and s.share_without_minority is None and s.minority_share is None


def test_paths_of_add_actions_and_read_back_files_match_by_name():
    # add actions hold URI-encoded paths relative to the table; Spark's _metadata.file_path is a URI
    rel = "event_date=2026-05-01%2001%3A00/part-00000-abc.c000.snappy.parquet"
    assert data_file_path("/t/out/", rel) == "/t/out/event_date=2026-05-01 01:00/part-00000-abc.c000.snappy.parquet"
    assert data_file_path("/t/out", "s3://b/x.parquet") == "s3://b/x.parquet"
    uri = "file:///t/out/event_date=2026-05-01%2001%3A00/part-00000-abc.c000.snappy.parquet"
    assert _file_name(uri) == _file_name(data_file_path("/t/out", rel)) == "part-00000-abc.c000.snappy.parquet"


def test_log_entry_add_actions_in_order_with_their_rows():
    # a commit's JSON lines: commitInfo, a metaData, two adds (one without stats), a remove
    entry = "\n".join(json.dumps(a) for a in (
        {"commitInfo": {"operation": "WRITE"}},
        {"metaData": {"id": "x"}},
        {"add": {"path": "event_date=2026-05-01/a%20b.parquet", "size": 120, "stats": json.dumps({"numRecords": 7})}},
        {"add": {"path": "s3://b/c.parquet", "size": 0, "stats": None}},
        {"remove": {"path": "old.parquet"}},
    )) + "\n"
    assert parse_added_files("/t/out/", entry) == [
        AddedFile(path="/t/out/event_date=2026-05-01/a b.parquet", size=120, rows=7),
        AddedFile(path="s3://b/c.parquet", size=0, rows=None),
    ]
    assert parse_added_files("/t/out", "") == []


def test_label_type_from_the_written_schema():
    schema = StructType([StructField("id", LongType()), StructField("Label", DoubleType())])
    assert label_schema("label", schema) == StructType([StructField("Label", DoubleType())])
    assert label_schema("missing", schema) is None and label_schema("label", None) is None


def test_a_column_mapped_output_is_read_back_through_the_labels_name_in_its_files(spark, tmp_path, caplog):
    # a label named with a space needs column mapping: the output's files name it col-<uuid>
    src, out = str(tmp_path / "in"), str(tmp_path / "out")
    spark.range(2_000).select("id", (F.col("id") % 20 == 0).cast("int").alias("is fraud")).write.parquet(src)
    cfg = parse_config({"dataset": "mapped", "input": {"path": src, "format": "parquet"}, "label_column": "is fraud",
                        "minority_classes": [1], "downsampling": {"factor": 4, "seed": 1}, "output": {"path": out}})
    with caplog.at_level(logging.WARNING):
        report = run_job(spark, cfg)
    # measured, not left unread: no failed read of the files by the label's own name, nothing logged
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert column_in_files(spark, out, report.output.version, "is fraud").startswith("col-")
    assert column_in_files(spark, out, report.output.version, "no such column") is None
    files = report.output_files
    assert files.note is None and files.minority_share is not None
    # the per-file minority shares are the table's own, read through Delta (which maps the names)
    shares = [r.share for r in spark.read.format("delta").load(out).groupBy(F.input_file_name()).agg(
        F.avg(F.col("`is fraud`").cast("double")).alias("share")).collect()]
    assert (files.minority_share.min, files.minority_share.max) == pytest.approx((min(shares), max(shares)))
    assert files.files == len(shares) and 0 < min(shares) < 1
