"""Real ``spark-submit jobs/downsample.py`` and console-script subprocesses on a small table.

One submit resolves the Delta jars with ``--packages``, as the README shows; the others use the
jars `make install` cached (``delta_jars_args``), which spares each an Ivy resolution.

Two submits, one per behaviour only a process shows, started at once: a submit that runs the job (and
prints the report as ``--json``, what the console script's run printed: ``jobs/downsample.py`` is
``imbalance-spark run``'s ``main``), and a submit refused on a bad input. A submit killed mid-write is
tests/test_hostile.py's, with the other killed run (a new output) beside it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Ended:
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class _Submits:
    """The three processes, started at once, as they ended; the folders they worked in."""

    entry: _Ended  # the installed console script's validate (no Spark)
    job: _Ended  # the README's submit that runs the job
    job_dir: Path
    bad: _Ended  # a submit refused on a missing input
    bad_dir: Path


def _run_at_once(commands: list[tuple[list[str], Path]], timeout: float = 600) -> list[_Ended]:
    """Run every (argv, cwd) at the same time, each printing to files in its cwd; what each printed and how it ended."""
    procs = []
    try:
        for n, (argv, cwd) in enumerate(commands):
            with open(cwd / f"stdout{n}.log", "w") as out, open(cwd / f"stderr{n}.log", "w") as err:
                procs.append(subprocess.Popen(argv, stdout=out, stderr=err, env=cli_env(), cwd=cwd))
        for proc in procs:
            proc.wait(timeout=timeout)  # the others keep running meanwhile
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return [
        _Ended(proc.returncode, (cwd / f"stdout{n}.log").read_text(), (cwd / f"stderr{n}.log").read_text())
        for n, (proc, (_, cwd)) in enumerate(zip(procs, commands, strict=True))
    ]


# Side by side: a cold JVM leaves a core idle much of its start (two CLI runs at once took 18 s, one
# after the other 27 s), and the processes share no folder.
@pytest.fixture(scope="module")
def submits(small_fraud_table, tmp_path_factory) -> _Submits:
    job_dir, bad_dir = tmp_path_factory.mktemp("submit_job"), tmp_path_factory.mktemp("submit_bad")
    exe = shutil.which("imbalance-spark", path=str(Path(sys.executable).parent))
    assert exe, "the console script is installed with the package"
    cfg, bad_cfg = job_config(job_dir, small_fraud_table), job_config(bad_dir, str(bad_dir / "missing"))
    entry, job, bad = _run_at_once([
        ([exe, "validate", "--config", str(cfg)], job_dir),
        ([spark_submit(), "--master", "local[2]", "--packages", delta_packages_arg(),
          "--conf", "spark.ui.enabled=false", "--driver-java-options", QUICK_START_JAVA_OPTION,
          str(REPO_ROOT / "jobs" / "downsample.py"), "--config", str(cfg), "--json"], job_dir),
        ([spark_submit(), "--master", "local[1]", *delta_jars_args(),
          "--driver-java-options",
          f"-Dlog4j2.configurationFile=file:{REPO_ROOT / 'conf' / 'log4j2.properties'} {QUICK_START_JAVA_OPTION}",
          str(REPO_ROOT / "jobs" / "downsample.py"), "--config", str(bad_cfg)], bad_dir),
    ])
    return _Submits(entry, job, job_dir, bad, bad_dir)


@pytest.mark.slow
def test_spark_submit_runs_the_job(spark, small_fraud_table, submits):
    """The job through spark-submit, as the README shows; also what the console script's run checked.

    ``jobs/downsample.py`` is ``main(["run", ...])``, the console script's code path: one process checks
    both (the installed entry point itself is run without Spark; the CLI starting its own JVM is
    tests/test_session.py's process).
    """
    assert submits.entry.returncode == 0, submits.entry.stderr
    proc, tmp_path = submits.job, submits.job_dir
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


# Also the real process of a refusal raised by a check in Python (tests/test_hostile.py has the one
# of a Spark job failing in the JVM): one line, no trace, nothing written.
@pytest.mark.slow
def test_spark_submit_bad_input_exits_nonzero_with_one_line(submits):
    proc, tmp_path = submits.bad, submits.bad_dir
    assert proc.returncode == 3
    # spark-submit's PythonRunner merges the driver's stderr into stdout
    output = proc.stdout + proc.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("imbalance-spark:")]
    assert errors == [f"imbalance-spark: error: input.path: {tmp_path / 'missing'} does not exist"]
    assert " INFO " not in proc.stderr, "the project's log4j2 config quiets the JVM"
    assert "Traceback" not in output and "at org.apache" not in output
    assert not any(line.startswith(("\tat ", "  at ")) or line.lstrip().startswith("at org.") for line in lines), output
    assert not (tmp_path / "out").exists()
