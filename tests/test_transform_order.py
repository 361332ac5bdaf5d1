"""Rows mixed within the output's files (transform.mix_rows) and the report's per-file batches.

The input's positives arrived in their own commit (written by delta-rs): read in file order, the
output's 128-row batches hold positives at the rate random order gives, and with
``output.row_order: input`` they do not. The report's per-file numbers match a direct count.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from imbalance_spark.config.load import parse_config
from imbalance_spark.errors import ConfigError
from imbalance_spark.flows.file_order import _typed_counts, count_files
from imbalance_spark.flows.run import run_job
from imbalance_spark.report.render import render_report
from imbalance_spark.tables.files import files_added

deltalake = pytest.importorskip("deltalake")

NEGATIVES, POSITIVES, FACTOR, SEED = 16_000, 400, 4, 5
BATCH = 128
LIMIT = 700  # output.max_records_per_file of the input-order run


def commit(ids: np.ndarray, label: float) -> pd.DataFrame:
    return pd.DataFrame({
        "id": ids,
        "label": np.full(len(ids), label),
        "amount": ids * 0.5,
        "event_date": (pd.Timestamp("2026-05-01") + pd.to_timedelta(ids % 2, unit="D")).date,
    })


def job(path: str, out: str, **output) -> object:
    return parse_config({
        "dataset": "late_labels", "input": {"path": path}, "label_column": "label", "minority_classes": [1],
        "downsampling": {"factor": FACTOR, "seed": SEED},
        "output": {"path": out, "partition_by": ["event_date"], **output},
    })


def files_in_delta_order(out: str) -> list[pd.DataFrame]:
    """Each data file of the output's current version, as a trainer reads it: in the log's order, rows in file order."""
    return [pq.read_table(uri.removeprefix("file://"), columns=["id", "label"]).to_pandas()
            for uri in deltalake.DeltaTable(out).file_uris()]


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory):
    """One input (negatives, then the positives in their own commit) and four runs of the job on it."""
    root = tmp_path_factory.mktemp("late_labels")
    path = str(root / "in")
    deltalake.write_deltalake(path, commit(np.arange(NEGATIVES), 0.0), partition_by=["event_date"])
    deltalake.write_deltalake(path, commit(np.arange(NEGATIVES, NEGATIVES + POSITIVES), 1.0),
                              partition_by=["event_date"], mode="append")
    out = {name: str(root / name) for name in ("mixed", "again", "input")}
    reports = {
        "mixed": run_job(spark, job(path, out["mixed"])),
        "again": run_job(spark, job(path, out["again"])),
        "input": run_job(spark, job(path, out["input"], row_order="input", max_records_per_file=LIMIT)),
    }
    return reports, {k: files_in_delta_order(v) for k, v in out.items()}


def batches(files: list[pd.DataFrame]) -> list[int]:
    """Positives in each full 128-row batch of each file, in file order."""
    return [int(f.label.iloc[i:i + BATCH].sum()) for f in files for i in range(0, len(f) - BATCH + 1, BATCH)]


def at_random_rate(files: list[pd.DataFrame], share: float) -> bool:
    """Whether every full batch holds positives within 5 binomial sigmas of 128·p (p: the output's share)."""
    mean, sigma = BATCH * share, math.sqrt(BATCH * share * (1 - share))
    return all(abs(c - mean) <= 5 * sigma for c in batches(files))


def test_mixed_batches_hold_positives_at_the_random_rate(runs):
    reports, files = runs
    counts = batches(files["mixed"])
    share = reports["mixed"].output.minority_share
    assert len(counts) >= 25 and 0.07 < share < 0.11
    assert at_random_rate(files["mixed"], share)
    # in random order a batch at ~9% positives is empty with probability (1-p)^128 ~ 1e-5
    assert counts.count(0) == 0
    assert abs(statistics.mean(counts) - BATCH * share) <= 5 * math.sqrt(BATCH * share * (1 - share) / len(counts))


def test_input_order_keeps_the_blocks_and_fails_the_check(runs):
    reports, files = runs
    assert reports["input"].output.rows == reports["mixed"].output.rows  # same sample, other order
    assert not at_random_rate(files["input"], reports["input"].output.minority_share)
    counts = batches(files["input"])
    assert counts.count(0) > len(counts) / 2  # most batches without a positive, as the issue found
    stats = reports["input"].output_files
    assert stats.share_without_minority > 0.5 > 0.01 > stats.pooled_random_share_without_minority
    assert reports["mixed"].output_files.share_without_minority < 0.01


def test_report_per_file_numbers_match_a_direct_count(runs):
    reports, files = runs
    for name in ("mixed", "input"):
        stats, found = reports[name].output_files, files[name]
        assert stats.files == len(found)
        shares = [f.label.mean() for f in found]
        assert (stats.minority_share.min, stats.minority_share.median, stats.minority_share.max) == pytest.approx(
            (min(shares), statistics.median(shares), max(shares)))
        rows = [len(f) for f in found]
        assert (stats.rows_per_file.min, stats.rows_per_file.max) == (min(rows), max(rows))
        all_batches = [f.label.iloc[i:i + BATCH].sum() for f in found for i in range(0, len(f), BATCH)]
        assert stats.batches == len(all_batches)
        assert stats.batches_without_minority == sum(1 for b in all_batches if b == 0)
        assert stats.row_order == name
    doc = reports["mixed"].as_dict()["output_files"]
    assert doc["batch_rows"] == BATCH and set(doc["minority_share"]) == {"min", "median", "max"}
    line = next(x for x in render_report(reports["input"]).splitlines() if x.startswith("files: "))
    empty = reports["input"].output_files.batches_without_minority
    assert f"without a minority row: {empty:,} of {reports['input'].output_files.batches:,}" in line


def test_files_holding_another_label_type_are_read_with_their_own(spark, runs):
    # the written label type spares reading a footer; files that hold another type are read again as they are
    reports, _ = runs
    out, keys = reports["input"].output, list(reports["input"].minority_classes)
    cfg = job("unused", out.target, row_order="input", max_records_per_file=LIMIT)
    added = files_added(spark, out.target, out.version)
    as_written = count_files(spark, cfg, keys, added, StructType([StructField("label", DoubleType())]))
    other = count_files(spark, cfg, keys, added, StructType([StructField("label", StringType())]))
    assert other == as_written == count_files(spark, cfg, keys, added)
    assert sum(f.rows for f in as_written) == out.rows and sum(f.minority_rows for f in as_written) > 0
    # files that do not hold the label under its name (column mapping) read as nulls: not trusted
    missing = StructType([StructField("is_fraud", DoubleType())])
    assert _typed_counts(spark, "is_fraud", "is_fraud", keys, added, missing) is None


def test_same_seed_same_files_in_the_same_order(runs):
    _, files = runs
    def layout(fs):
        return sorted(tuple(f.id) for f in fs)
    assert layout(files["mixed"]) == layout(files["again"])
    # and the order is not the input's: ids within a file are not sorted
    assert any(list(f.id) != sorted(f.id) for f in files["mixed"])


def test_max_records_per_file_caps_every_file(runs):
    reports, files = runs
    assert max(len(f) for f in files["input"]) <= LIMIT
    assert len(files["input"]) > len(files["mixed"])
    assert reports["input"].output_files.max_records_per_file == LIMIT
    assert reports["input"].output_files.rows_per_file.max <= LIMIT


@pytest.mark.parametrize(("key", "value", "message"), [
    ("row_order", "shuffled", r"output.row_order.*'mixed' or 'input'"),
    ("max_records_per_file", 0, r"output.max_records_per_file.*greater than or equal to 1"),
])
def test_bad_output_keys_are_named(key, value, message):
    with pytest.raises(ConfigError, match=message):
        job("/tmp/in", "/tmp/out", **{key: value})
