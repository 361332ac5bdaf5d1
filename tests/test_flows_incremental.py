"""``run --incremental`` on real Delta streams: appends written by Spark and by delta-rs, runs that equal one
batch run row for row, nothing new, rewritten inputs refused, an existing batch output, and a kill mid-run.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from imbalance_spark.cli import main
from imbalance_spark.config.load import load_config, parse_config
from imbalance_spark.errors import ConfigError, InputError, OutputError
from imbalance_spark.flows.incremental import run_incremental
from imbalance_spark.flows.run import run_job
from imbalance_spark.tables.delta_log import listed_version
from imbalance_spark.transform import downsample, with_example_weight
from tests.conftest import REPO_ROOT, SMALL_JOB_CONF, cli_env

deltalake = pytest.importorskip("deltalake")

ROWS = 500  # per append; every 20th id is the minority class 1
FACTOR = 4


def rows_frame(start: int, n: int = ROWS) -> pd.DataFrame:
    """``n`` transactions from id ``start``: label 1 for every 20th id, three days of event_date."""
    ids = pd.RangeIndex(start, start + n)
    return pd.DataFrame({
        "id": ids.astype("int64"),
        "label": (ids % 20 == 0).astype("int64"),
        "amount": ids * 0.5,
        "event_date": (pd.Timestamp("2026-03-01") + pd.to_timedelta(ids % 3, unit="D")).date,
    })


def append_with_spark(spark, path: str, start: int, n: int = ROWS) -> None:
    """Append ``n`` rows (two files) with Spark, the schema delta-rs writes."""
    spark.range(start, start + n, numPartitions=2).select(
        F.col("id"),
        (F.col("id") % 20 == 0).cast("long").alias("label"),
        (F.col("id") * 0.5).alias("amount"),
        F.date_add(F.lit("2026-03-01").cast("date"), (F.col("id") % 3).cast("int")).alias("event_date"),
    ).write.format("delta").mode("append").save(path)


def config_data(base: Path, name: str, **incremental) -> dict:
    return {
        "dataset": name,
        "input": {"path": str(base / "in"), "date_column": "event_date"},
        "label_column": "label",
        "minority_classes": [1],
        "downsampling": {"factor": FACTOR, "seed": 3, "method": "hash", "key_columns": ["id"]},
        "output": {"path": str(base / "out"), "change_data_feed": True},
        "history": {"path": str(base / "history")},
        "incremental": {"checkpoint": str(base / "checkpoint"), **incremental},
    }


def write_yaml(path: Path, data: dict) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


def output_df(spark, path: str):
    return spark.read.format("delta").load(path)


def incremental_runs(spark, base: Path) -> dict:
    """Three appends (delta-rs, Spark, delta-rs) over two incremental runs, an OPTIMIZE, then a run that finds
    nothing new (the CLI, in process)."""
    data = config_data(base, "incr", max_files_per_batch=2)
    path = write_yaml(base / "incr.yaml", data)
    cfg = load_config(path)
    inp = str(base / "in")
    deltalake.write_deltalake(inp, rows_frame(0))  # version 0: one file
    append_with_spark(spark, inp, ROWS)  # version 1: two files
    first = run_incremental(spark, cfg)
    deltalake.write_deltalake(inp, rows_frame(2 * ROWS), mode="append")  # version 2
    out_before_second = listed_version(str(base / "out"))
    second = run_incremental(spark, cfg)
    spark.sql(f"OPTIMIZE delta.`{inp}`")  # version 3: files compacted, dataChange false
    out_before_nothing = listed_version(str(base / "out"))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        nothing_code = main(["run", "--config", path, "--incremental"])
    return {"data": data, "cfg": cfg, "first": first.report, "second": second.report,
            "out_before_second": out_before_second, "yaml": path,
            "nothing": (nothing_code, printed.getvalue(), out_before_nothing, listed_version(str(base / "out")))}


def rewrite_then_batch_run(spark, base: Path, runs: dict) -> dict:
    """Version 4: delta-rs rewrites the input (the same rows, one file), which the next incremental run refuses;
    then one batch run of the rewritten input (the hash decides by key: the rows the incremental runs kept)."""
    inp, out = str(base / "in"), str(base / "out")
    deltalake.write_deltalake(inp, rows_frame(0, 3 * ROWS), mode="overwrite")
    version = listed_version(out)
    with pytest.raises(InputError) as refused:
        run_incremental(spark, runs["cfg"])
    untouched = listed_version(out) == version
    batch_cfg = parse_config({**runs["data"], "output": {"path": str(base / "batch_out"), "change_data_feed": True},
                              "history": {}})
    return {"refused": refused.value, "untouched": untouched, "batch": run_job(spark, batch_cfg)}


def onto_the_batch_output(spark, base: Path, batch) -> dict:
    """The way on after a rewrite: incremental runs into the batch run's output (refused, then from its
    input_version + 1: nothing new, then an append), until a DELETE of input rows is refused as well."""
    inp, out = str(base / "in"), str(base / "batch_out")
    data = config_data(base, "onto_batch")
    data["output"] = {"path": out}
    data["incremental"] = {"checkpoint": str(base / "checkpoint_batch")}
    data["history"] = {}
    found = {"version": listed_version(out)}
    with pytest.raises(OutputError) as refused:
        run_incremental(spark, parse_config(data))
    data["incremental"]["starting_version"] = batch.input_version + 1
    found.update(refused=refused.value, nothing=run_incremental(spark, parse_config(data)),
                 after_nothing=listed_version(out))
    deltalake.write_deltalake(inp, rows_frame(10 * ROWS, 200), mode="append")  # version 5
    found["after"] = run_incremental(spark, parse_config(data)).report
    found["rows_after"] = output_df(spark, out).count()
    spark.sql(f"DELETE FROM delta.`{inp}` WHERE id < 10")  # version 6, by Spark
    deltalake.write_deltalake(inp, rows_frame(20 * ROWS, 200), mode="append")  # version 7: not written either
    version = listed_version(out)
    with pytest.raises(InputError) as deleted:
        run_incremental(spark, parse_config(data))
    found.update(deleted=deleted.value, deleted_untouched=listed_version(out) == version)
    return found


@pytest.fixture(scope="module")
def appended(spark, tmp_path_factory):
    """One input's life: two incremental runs, nothing new, a rewrite refused, a batch run, then incremental
    runs into the batch output until a DELETE is refused. Each test asserts on what one step left."""
    base = tmp_path_factory.mktemp("incremental")
    runs = incremental_runs(spark, base)
    rewritten = rewrite_then_batch_run(spark, base, runs)
    return {"base": base, **runs, **rewritten, "onto_batch": onto_the_batch_output(spark, base, rewritten["batch"])}


def test_two_incremental_runs_equal_one_batch_run_row_for_row_and_weight_for_weight(spark, appended):
    base = appended["base"]
    incr_df = output_df(spark, str(base / "out"))
    batch_df = spark.read.format("delta").option("versionAsOf", 0).load(str(base / "batch_out"))
    assert appended["batch"].input.rows == 3 * ROWS
    assert incr_df.count() == batch_df.count() == appended["batch"].output.rows
    assert incr_df.select("id").distinct().count() == incr_df.count()  # no row twice
    assertDataFrameEqual(incr_df, batch_df, checkRowOrder=False)
    assert incr_df.columns == batch_df.columns == ["id", "label", "amount", "event_date", "example_weight"]
    weights = {r.label: r.w for r in incr_df.groupBy("label").agg(F.max("example_weight").alias("w")).collect()}
    assert weights == {0: float(FACTOR), 1: 1.0}


def test_each_run_reports_what_it_added(spark, appended):
    first, second = appended["first"], appended["second"]
    assert first.incremental.batches == 2 and first.incremental.batch_ids == [0, 1]
    assert (first.incremental.input_version_from, first.incremental.input_version_to) == (1, 1)  # snapshot of v1
    assert second.incremental.batches == 1 and second.incremental.batch_ids == [2]
    assert (second.incremental.input_version_from, second.incremental.input_version_to) == (2, 2)
    assert first.input.rows == 2 * ROWS and second.input.rows == ROWS
    assert first.input.classes["1"].count == 2 * ROWS // 20
    assert first.output.classes["1"].count == 2 * ROWS // 20  # every minority row kept
    out = str(appended["base"] / "out")
    added = output_df(spark, out).count() - spark.read.format("delta").option(
        "versionAsOf", appended["out_before_second"]).load(out).count()
    assert second.output.rows == added > 0
    assert first.output.rows + second.output.rows == appended["batch"].output.rows
    assert second.output.mode == "append" and second.input_version == 2
    doc = second.as_dict()
    assert doc["incremental"]["txn_app_id"].startswith("imbalance-spark/incr/") and doc["output"]["rows"] == added


def test_history_has_each_batch_once_and_the_output_feeds_cdf(spark, appended):
    base = appended["base"]
    history = spark.read.format("delta").load(str(base / "history"))
    assert history.count() == 3 * 2  # three batches, two classes each
    assert history.agg(F.sum("input_count")).first()[0] == 3 * ROWS
    props = {r[0]: r[1] for r in spark.sql(f"SHOW TBLPROPERTIES delta.`{base / 'out'}`").collect()}
    assert props["delta.enableChangeDataFeed"] == "true"
    assert props["imbalance_spark.factor.0"] == repr(float(FACTOR)) and props["imbalance_spark.method"] == "hash"
    feed = spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0).load(
        str(base / "out"))
    assert feed.filter("_change_type = 'insert'").count() == output_df(spark, str(base / "out")).count()
    batch_props = {r[0]: r[1] for r in spark.sql(f"SHOW TBLPROPERTIES delta.`{base / 'batch_out'}`").collect()}
    assert batch_props["delta.enableChangeDataFeed"] == "true"  # a batch run's new table too


def test_nothing_new_exits_0_with_one_line_and_no_commit(appended):
    """After the second run only an OPTIMIZE was committed: not a rewrite, and nothing new."""
    code, printed, version, after = appended["nothing"]
    assert code == 0
    printed = printed.strip().splitlines()
    assert len(printed) == 1 and printed[0].startswith("nothing new in ") and f"version {version}" in printed[0]
    assert "(input version 3," in printed[0]
    assert after == version


def test_a_first_incremental_run_into_a_batch_output_is_refused_unless_a_starting_version_is_given(appended):
    onto = appended["onto_batch"]
    assert isinstance(onto["refused"], OutputError)
    assert re.search(r"already exists .* set incremental.starting_version", str(onto["refused"]))
    # from the version after the one the batch run read: nothing new yet, nothing written
    assert onto["nothing"].report is None and onto["nothing"].message.startswith("nothing new")
    assert onto["after_nothing"] == onto["version"]


def test_a_rewritten_input_is_refused_with_the_ways_on(appended):
    assert appended["untouched"]  # output untouched
    assert re.search(r"version 4 \(\w+\) changed or deleted rows.*full `imbalance-spark run`.*"
                     r"starting_version to that run's input_version \+ 1.*or reset: delete the checkpoint",
                     str(appended["refused"]))
    # one way on: a full run, then a new checkpoint from the version after the one it read
    onto, full = appended["onto_batch"], appended["batch"]
    after = onto["after"]
    assert after.input.rows == 200 and after.incremental.input_version_from == 5 == full.input_version + 1
    assert onto["rows_after"] == full.output.rows + after.output.rows
    assert re.search(r"version 6 \(DELETE\) changed or deleted rows", str(onto["deleted"]))
    assert onto["deleted_untouched"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"downsampling": {"target_minority_share": 0.2}}, "target_minority_share: not with incremental"),
        ({"weight": {"mode": "realized"}}, "weight.mode: realized is not kept with incremental"),
        ({"downsampling": {"factor": 4, "strata": ["region"]}}, "downsampling.strata: not with incremental"),
        ({"minority_classes": None}, "incremental: set minority_classes"),
        ({"incremental": {"checkpoint": "c", "changes": "cdf"}}, "cdf is not built"),
        ({"incremental": {"checkpoint": "c", "max_bytes_per_batch": "lots"}}, "expected a size like"),
        ({"input": {"path": "/in", "format": "parquet"}}, "incremental: needs a Delta input"),
    ],
)
def test_what_incremental_cannot_keep_exact_is_refused_before_spark(tmp_path, change, message):
    data = config_data(tmp_path, "refused")
    data.update(change)
    if data["minority_classes"] is None:
        del data["minority_classes"]
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_checkpoint_inside_a_table_and_byte_sizes(tmp_path):
    data = config_data(tmp_path, "paths")
    data["incremental"] = {"checkpoint": str(tmp_path / "out" / "_checkpoint")}
    with pytest.raises(ConfigError, match="incremental.checkpoint: .* must be outside the table"):
        parse_config(data)
    data["incremental"] = {"checkpoint": str(tmp_path / "ck"), "max_bytes_per_batch": "512m", "max_files_per_batch": 8}
    assert parse_config(data).incremental.max_bytes_per_batch == "512m"


def test_the_flag_is_refused_over_connect_with_a_date_or_without_a_block(tmp_path, capsys):
    path = write_yaml(tmp_path / "c.yaml", config_data(tmp_path, "cli"))
    assert main(["run", "--config", path, "--incremental", "--remote", "sc://127.0.0.1:1"]) == 2
    assert "--incremental: not through Spark Connect" in capsys.readouterr().err
    assert main(["run", "--config", path, "--incremental", "--run-date", "2026-03-01"]) == 2
    assert "drop the run date" in capsys.readouterr().err
    data = config_data(tmp_path, "cli")
    del data["incremental"]
    path = write_yaml(tmp_path / "d.yaml", data)
    assert main(["run", "--config", path, "--incremental"]) == 2
    assert "needs an incremental block" in capsys.readouterr().err


@pytest.mark.slow
def test_sigkill_mid_run_then_a_rerun_leaves_no_duplicate_and_nothing_missing(spark, tmp_path):
    # two appends, one micro-batch each: the first is written before the kill, the second after it. The
    # kill lands mid-run: the poll (every 50 ms) sees version 1, the first batch's append, while the
    # process, a fresh JVM, still has that batch's properties, history and checkpoint commit, and the
    # second batch, to do (seconds; `proc.poll() is None` below checks it), so the rerun must both skip
    # what the killed run wrote and add what it did not.
    files = 2
    data = config_data(tmp_path, "killed", max_files_per_batch=1)
    data["spark"] = {"conf": SMALL_JOB_CONF, "quick_start": True}
    path = write_yaml(tmp_path / "killed.yaml", data)
    inp, out = str(tmp_path / "in"), str(tmp_path / "out")
    for i in range(files):
        deltalake.write_deltalake(inp, rows_frame(i * 400, 400), mode="append")
    proc = subprocess.Popen(
        [sys.executable, "-m", "imbalance_spark.cli", "run", "--config", path, "--incremental", "-q"],
        cwd=REPO_ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        # killed once it has appended the first batch (create, append): mid-run
        while (listed_version(out) or 0) < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    killed_at = output_df(spark, out).count()
    rerun = run_incremental(spark, load_config(path))
    incr_df = output_df(spark, out)
    # what one batch run writes (test_two_incremental_runs_equal_one_batch_run...): the input's hash sample at
    # the config's factor and seed, weighted by it, from the sampler and weight steps the job runs
    kept_df = downsample(output_df(spark, inp), "label", {0: 1 / FACTOR, 1: 1.0}, 3, "hash", ["id"])
    expected_df = with_example_weight(kept_df, "label", {0: float(FACTOR), 1: 1.0}, "example_weight")
    assert 0 < killed_at < incr_df.count() == expected_df.count()
    assert incr_df.select("id").distinct().count() == incr_df.count()
    assertDataFrameEqual(incr_df, expected_df, checkRowOrder=False)
    history = spark.read.format("delta").load(str(tmp_path / "history"))
    assert history.select("run_id").distinct().count() == files  # each batch's rows once
    assert rerun.report.output.rows == incr_df.count() - killed_at
