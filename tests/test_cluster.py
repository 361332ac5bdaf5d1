"""A real Spark standalone cluster on 127.0.0.1 (scripts/local-cluster.sh): the job submitted to it
keeps, with ``method: hash``, exactly the rows that a ``local[2]`` run keeps.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from imbalance_spark.packages import delta_packages_arg

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "local-cluster.sh"
SPARK_SUBMIT = Path(pyspark.__file__).resolve().parent / "bin" / "spark-submit"
RUN_DATE = "2026-11-01"
ROWS = 20_000
FACTOR = 8
# Small shuffles and no UI: the table is tiny and the machine has two cores.
SMALL_JOB_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.databricks.delta.snapshotPartitions": "2",
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="bash script, POSIX process groups"),
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass(frozen=True)
class Cluster:
    master_url: str
    state_dir: Path
    env: dict[str, str]


def cluster_script(command: str, env: dict[str, str], timeout: float = 180):
    return subprocess.run(
        ["bash", str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory, request) -> Cluster:
    """A master and two one-core workers on free loopback ports, stopped after the module."""
    state = tmp_path_factory.mktemp("local-cluster")
    port = free_port()
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "LOCAL_CLUSTER_DIR": str(state),
        "LOCAL_CLUSTER_MASTER_PORT": str(port),
        "LOCAL_CLUSTER_MASTER_REST_PORT": str(free_port()),
        # 0: every web UI picks a free port, so parallel runs and a user's cluster do not clash.
        "LOCAL_CLUSTER_MASTER_WEBUI_PORT": "0",
        "LOCAL_CLUSTER_WORKER_WEBUI_PORT": "0",
        "LOCAL_CLUSTER_WORKERS": "2",
        "LOCAL_CLUSTER_WORKER_CORES": "1",
        "LOCAL_CLUSTER_WORKER_MEMORY": "1500m",
    }
    started: set[int] = set()

    def stop() -> None:
        started.update(int(p.read_text()) for p in state.glob("*.pid"))
        result = cluster_script("stop", env, timeout=120)
        leftover = [pid for pid in started if alive(pid)]
        for pid in leftover:
            os.killpg(pid, signal.SIGKILL)
        assert result.returncode == 0, result.stderr
        assert not leftover, f"local-cluster.sh stop left processes running: {leftover}"

    # Registered before `start`, so a start that fails half-way is cleaned up as well.
    request.addfinalizer(stop)
    result = cluster_script("start", env)
    started.update(int(p.read_text()) for p in state.glob("*.pid"))
    assert result.returncode == 0, result.stdout + result.stderr
    master_url = result.stdout.strip().splitlines()[-1]
    # Spark takes the next port if another process grabbed this one since free_port() looked.
    assert master_url.startswith("spark://127.0.0.1:"), result.stdout
    if master_url != f"spark://127.0.0.1:{port}":
        print(f"master moved from port {port} to {master_url}")
    return Cluster(master_url, state, env)


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


@pytest.fixture(scope="module")
def py_files_zip(tmp_path_factory) -> Path:
    """The imbalance_spark package zipped for --py-files, built with the command `make zip` runs."""
    zip_path = tmp_path_factory.mktemp("dist") / "imbalance_spark.zip"
    subprocess.run(
        [sys.executable, "-m", "zipfile", "-c", str(zip_path), "imbalance_spark/"],
        cwd=REPO_ROOT, check=True,
    )
    return zip_path


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
    cmd = [str(SPARK_SUBMIT), "--master", master, "--packages", delta_packages_arg(),
           "--py-files", str(py_files)]
    for key, value in {**SMALL_JOB_CONF, **extra_conf}.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += [str(REPO_ROOT / "jobs" / "downsample.py"), "--config", str(config),
            "--run-date", RUN_DATE]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
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
    spark_submit("local[2]", hash_config(tmp_path / "local.yaml", cluster_input, local_out),
                 py_files_zip, {})
    spark_submit(
        standalone_cluster.master_url,
        hash_config(tmp_path / "cluster.yaml", cluster_input, cluster_out),
        py_files_zip,
        {
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.executor.memory": "1g",
            "spark.executor.cores": "1",
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
