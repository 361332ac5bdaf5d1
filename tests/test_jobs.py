"""Real ``spark-submit jobs/downsample.py`` and console-script subprocesses on a small table.

One submit resolves the Delta jars with ``--packages``, as the README shows; the others use the
jars `make install` cached (``delta_jars_args``), which spares each an Ivy resolution.

Three processes, one per behaviour only a process shows: a submit that runs the job (and prints the
report as ``--json``, what the console script's run printed: ``jobs/downsample.py`` is ``imbalance-spark
run``'s ``main``), a submit refused on a bad input, and a submit killed mid-write.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from delta.tables import DeltaTable

from imbalance_spark.packages import delta_packages_arg
from imbalance_spark.session import QUICK_START_JAVA_OPTION
from tests.conftest import REPO_ROOT, cli_env, delta_jars_args, write_config


def spark_submit() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-submit")


def job_config(tmp_path: Path, table: str, spark_block: str = "") -> Path:
    return write_config(
        tmp_path / "job.yaml",
        f"""\
dataset: submit_test
input: {{path: {table}, format: delta}}
label_column: is_fraud
downsampling: {{factor: 5, seed: 7}}
output: {{path: {tmp_path / 'out'}, partition_by: [event_date]}}
report: {{path: {tmp_path / 'report.json'}}}
{spark_block}""",
    )


def json_document(stdout: str) -> dict:
    """The report ``--json`` printed: from its first line ``{`` to its last ``}`` (spark-submit may add lines)."""
    lines = stdout.splitlines()
    start = lines.index("{")
    end = len(lines) - lines[::-1].index("}")
    return json.loads("\n".join(lines[start:end]))


@pytest.mark.slow
def test_spark_submit_runs_the_job(spark, small_fraud_table, tmp_path):
    """The job through spark-submit, as the README shows; also what the console script's run checked.

    ``jobs/downsample.py`` is ``main(["run", ...])``, the console script's code path: one process checks
    both (the installed entry point itself is run below without Spark; the CLI starting its own JVM is
    tests/test_session.py's process).
    """
    exe = shutil.which("imbalance-spark", path=str(Path(sys.executable).parent))
    assert exe, "the console script is installed with the package"
    cfg = job_config(tmp_path, small_fraud_table)
    entry = subprocess.run([exe, "validate", "--config", str(cfg)], capture_output=True, text=True,
                           env=cli_env(), cwd=tmp_path, timeout=120)
    assert entry.returncode == 0, entry.stderr
    proc = subprocess.run(
        [
            spark_submit(), "--master", "local[2]", "--packages", delta_packages_arg(),
            "--conf", "spark.ui.enabled=false", "--driver-java-options", QUICK_START_JAVA_OPTION,
            str(REPO_ROOT / "jobs" / "downsample.py"), "--config", str(cfg), "--json",
        ],
        capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "submit_test" in proc.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    printed = json_document(proc.stdout)
    out = spark.read.format("delta").load(str(tmp_path / "out"))
    assert out.count() == report["output"]["rows"] == printed["output"]["rows"]
    assert printed["run_id"] == report["run_id"]
    assert report["minority_classes"] == ["1"] and report["factors"]["0"] == 5.0
    fraud_in = spark.read.format("delta").load(small_fraud_table).filter("is_fraud = 1").count()
    assert out.filter("is_fraud = 1").count() == fraud_in
    history = DeltaTable.forPath(spark, str(tmp_path / "out")).history().collect()
    assert json.loads(history[0].userMetadata)["dataset"] == "submit_test"


@pytest.mark.slow
def test_spark_submit_bad_input_exits_nonzero_with_one_line(tmp_path):
    cfg = job_config(tmp_path, str(tmp_path / "missing"))
    proc = subprocess.run(
        [spark_submit(), "--master", "local[1]", *delta_jars_args(),
         "--driver-java-options",
         f"-Dlog4j2.configurationFile=file:{REPO_ROOT / 'conf' / 'log4j2.properties'} {QUICK_START_JAVA_OPTION}",
         str(REPO_ROOT / "jobs" / "downsample.py"), "--config", str(cfg)],
        capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=600,
    )
    assert proc.returncode == 3
    # spark-submit's PythonRunner merges the driver's stderr into stdout
    output = proc.stdout + proc.stderr
    errors = [line for line in output.splitlines() if line.startswith("imbalance-spark: error:")]
    assert errors == [f"imbalance-spark: error: input.path: {tmp_path / 'missing'} does not exist"]
    assert " INFO " not in proc.stderr, "the project's log4j2 config quiets the JVM"
    assert "Traceback" not in output and "at org.apache" not in output


@pytest.mark.slow
def test_sigkill_mid_write_leaves_previous_version_and_next_run_succeeds(spark, small_fraud_table, tmp_path):
    import os
    import signal
    import time

    from imbalance_spark.config.load import load_config
    from imbalance_spark.flows.run import run_job

    # the first new data file appears when the write starts; Delta commits only after every task has
    # written its files and the driver has collected their stats and checked the log, so a poll every
    # 20 ms sees the files well before the commit. The small table (30k rows, three days: a file per day
    # and task) is enough: in the submit's fresh JVM the write stage alone takes seconds (cold code), and
    # the commit after it hundreds of milliseconds; the table's size only adds to the runs around the kill.
    table = small_fraud_table
    rows = spark.read.format("delta").load(table).count()
    out = tmp_path / "out"
    cfg_path = write_config(
        tmp_path / "kill.yaml",
        f"""\
dataset: kill_test
input: {{path: {table}}}
label_column: is_fraud
downsampling: {{factor: 1, seed: 7}}
output: {{path: {out}, partition_by: [event_date]}}
""",
    )
    first = run_job(spark, load_config(cfg_path))
    before_files = {p for p in out.rglob("*.parquet")}
    proc = subprocess.Popen(
        [spark_submit(), "--master", "local[2]", *delta_jars_args(),
         "--conf", "spark.ui.enabled=false", "--driver-java-options", QUICK_START_JAVA_OPTION,
         str(REPO_ROOT / "jobs" / "downsample.py"), "--config", str(cfg_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=cli_env(), cwd=tmp_path,
        start_new_session=True,
    )
    killed_mid_write = False
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if {p for p in out.rglob("*.parquet")} - before_files:
                os.killpg(proc.pid, signal.SIGKILL)
                killed_mid_write = True
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert killed_mid_write, "the job never started writing"
    history = DeltaTable.forPath(spark, str(out)).history().collect()
    assert [h.version for h in history] == [0], "the killed run committed nothing"
    assert spark.read.format("delta").load(str(out)).count() == first.output.rows
    again = run_job(spark, load_config(cfg_path))
    assert again.output.version == 1
    result = spark.read.format("delta").load(str(out))
    assert result.count() == again.output.rows == rows
    assert result.select("transaction_id").distinct().count() == rows  # no duplicates
