"""A real Spark standalone cluster on 127.0.0.1 (scripts/local-cluster.sh): the job submitted to it
keeps, with ``method: hash``, exactly the rows that a ``local[2]`` run keeps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from imbalance_spark.cli import main
from imbalance_spark.session import QUICK_START_JAVA_OPTION
from tests.conftest import (
    REPO_ROOT,
    SMALL_JOB_CONF,
    SUBPROCESS_JVM_OPTIONS,
    cluster_script,
    delta_jars_args,
    with_driver_java_options,
)

SPARK_SUBMIT = Path(pyspark.__file__).resolve().parent / "bin" / "spark-submit"
RUN_DATE = "2026-11-01"
ROWS = 20_000
FACTOR = 8

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="bash script, POSIX process groups"),
]


@pytest.fixture(scope="module")
def cluster_input(spark, tmp_path_factory) -> str:
    """20,000 rows over RUN_DATE and the day after, 2% label 1, as several parquet files."""
    path = str(tmp_path_factory.mktemp("cluster_input") / "events")
    (
        spark.range(ROWS, numPartitions=3)
        .select(
            F.col("id"),
            F.concat(F.lit("acct-"), (F.col("id") % 731).cast("string")).alias("account"),
            (F.col("id") % 50 == 7).cast("int").alias("label"),
            # blocks of 50 ids alternate days, so half of the label-1 rows fall on RUN_DATE
            F.date_add(F.lit(RUN_DATE), (F.floor(F.col("id") / 50) % 2).cast("int"))
            .alias("event_date"),
        )
        .write.parquet(path)
    )
    return path


def hash_config(path: Path, input_path: str, out: Path) -> Path:
    path.write_text(
        textwrap.dedent(
            f"""\
            dataset: cluster_events
            input:
              path: {input_path}
              format: parquet
              date_column: event_date
            label_column: label
            minority_classes: [1]
            downsampling:
              factor: {FACTOR}
              seed: 1234
              method: hash
              key_columns: [id, account]
            weight:
              column: example_weight
            output:
              path: {out / "output"}
            report:
              path: {out / "report.json"}
            """
        )
    )
    return path


def spark_submit(master: str, config: Path, py_files: Path, extra_conf: dict[str, str]) -> None:
    """spark-submit jobs/downsample.py; fails the test with the output's tail if it fails."""
    cmd = [str(SPARK_SUBMIT), "--master", master, *delta_jars_args(), "--py-files", str(py_files),
           "--driver-java-options", QUICK_START_JAVA_OPTION]
    for key, value in {**SMALL_JOB_CONF, **extra_conf}.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += [str(REPO_ROOT / "jobs" / "downsample.py"), "--config", str(config),
            "--run-date", RUN_DATE]
    env = with_driver_java_options({**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"})
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=420)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"spark-submit --master {master} timed out:\n{out[-5000:]}")
    assert proc.returncode == 0, f"spark-submit --master {master} failed:\n{out[-5000:]}"


def test_script_reports_a_running_cluster(standalone_cluster):
    result = cluster_script("status", standalone_cluster.env, timeout=30)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" running (pid ") == 3
    assert standalone_cluster.master_url in result.stdout


@pytest.mark.slow
def test_hash_method_keeps_the_same_rows_on_the_cluster_as_local(
    spark, standalone_cluster, cluster_input, py_files_zip, tmp_path
):
    local_out, cluster_out = tmp_path / "local", tmp_path / "cluster"
    # The local reference runs the same CLI code in process, on the test session (local[2]);
    # spark-submit itself is tested in test_jobs.py.
    local_cfg = hash_config(tmp_path / "local.yaml", cluster_input, local_out)
    assert main(["run", "--config", str(local_cfg), "--run-date", RUN_DATE, "-q"]) == 0
    spark_submit(
        standalone_cluster.master_url,
        hash_config(tmp_path / "cluster.yaml", cluster_input, cluster_out),
        py_files_zip,
        {
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.executor.memory": "1g",
            "spark.executor.cores": "1",
            "spark.executor.extraJavaOptions": SUBPROCESS_JVM_OPTIONS,
        },
    )

    local_df = spark.read.format("delta").load(str(local_out / "output"))
    cluster_df = spark.read.format("delta").load(str(cluster_out / "output"))
    assertDataFrameEqual(cluster_df, local_df)
    counts = {r["label"]: r["count"] for r in cluster_df.groupBy("label").count().collect()}
    run_day_rows = ROWS // 2
    assert counts[1] == ROWS // 50 // 2
    assert 0 < counts[0] < run_day_rows - counts[1]
    assert cluster_df.where(F.col("event_date") != F.lit(RUN_DATE).cast("date")).count() == 0
    # The tasks ran in executors that both workers launched, not in the driver.
    app_dirs = list((standalone_cluster.state_dir / "work").glob("worker-*/app-*/*"))
    assert {p.parent.parent.name for p in app_dirs} == {"worker-1", "worker-2"}
