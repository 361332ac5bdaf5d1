"""The Airflow DAG with a real Airflow: DagBag import, settings and rendered arguments, and an
``airflow dags test`` run that spark-submits the job for one date and leaves a Delta table.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# find_spec rather than pytest.importorskip: importing airflow here would read (or create)
# ~/airflow/airflow.cfg and install Airflow's logging in the test process. Airflow only ever
# runs in subprocesses whose AIRFLOW_HOME is a temporary folder.
if importlib.util.find_spec("airflow") is None or importlib.util.find_spec(
    "airflow.providers.apache.spark"
) is None:
    pytest.skip("Airflow is not installed (pip install -e .[airflow])", allow_module_level=True)

import pyspark  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql.types import (  # noqa: E402
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StructField,
    StructType,
)

from imbalance_spark.packages import cached_jars_arg, delta_packages_arg  # noqa: E402
from imbalance_spark.session import _log4j_conf  # noqa: E402
from tests.conftest import SMALL_JOB_CONF, with_driver_java_options  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGS_DIR = REPO_ROOT / "jobs" / "dags"
DAG_PREFIX = "imbalance_downsampling__"
RUN_DATE = "2026-11-01"
CONN_ID = "spark_local_test"
CONNECT_CONN_ID = "spark_connect_test"
SPARK_BIN = Path(pyspark.__file__).resolve().parent / "bin"
VENV_BIN = Path(sys.executable).parent

# One long-lived interpreter parses the DAG folder for every fast test: it imports Airflow once
# (seconds), then, per request, takes the request's Airflow Variables and connections (the
# AIRFLOW_VAR_* / AIRFLOW_CONN_* environment, which is all that differs between the tests' parses)
# and loads a fresh DagBag (Airflow re-imports each DAG file for a new DagBag) and prints what the
# DAGs hold, one JSON line per request.
DAGBAG_PROBE = textwrap.dedent(
    """
    import json, os, sys
    from airflow.dag_processing.dagbag import DagBag

    def describe(folder):
        bag = DagBag(dag_folder=folder)
        dags = {}
        for dag_id, dag in bag.dags.items():
            tasks = {}
            for task in dag.tasks:
                tasks[task.task_id] = {
                    "type": type(task).__name__,
                    "conn_id": getattr(task, "_conn_id", None),
                    "application": getattr(task, "application", None),
                    "application_args": getattr(task, "application_args", None),
                    "name": getattr(task, "name", None),
                    "packages": getattr(task, "packages", None),
                    "jars": getattr(task, "jars", None),
                    "conf": getattr(task, "conf", None),
                    "py_files": getattr(task, "py_files", None),
                    "op_kwargs": getattr(task, "op_kwargs", None),
                    "retries": task.retries,
                    "retry_delay_s": task.retry_delay.total_seconds(),
                    "execution_timeout_s": task.execution_timeout.total_seconds(),
                }
            dags[dag_id] = {
                "schedule": str(dag.schedule) if dag.schedule is not None else None,
                "start_date": dag.start_date.isoformat(),
                "catchup": dag.catchup,
                "max_active_runs": dag.max_active_runs,
                "tasks": tasks,
            }
        errors = {path: str(err) for path, err in bag.import_errors.items()}
        return {"dags": dags, "errors": errors}

    for line in sys.stdin:
        request = json.loads(line)
        for key in [k for k in os.environ if k.startswith(("AIRFLOW_VAR_", "AIRFLOW_CONN_"))]:
            del os.environ[key]
        os.environ.update(request["env"])
        try:
            result = describe(request["folder"])
        except Exception as exc:  # the test shows it
            result = {"probe_error": repr(exc)}
        print("DAGBAG=" + json.dumps(result), flush=True)
    """
)
# The per-request part of an Airflow environment (Variables and connections).
PER_REQUEST = ("AIRFLOW_VAR_", "AIRFLOW_CONN_")


class DagBagProbe:
    """The long-lived DagBag interpreter: started on first use with the first test's environment."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def load(self, env: dict[str, str]) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            base = {k: v for k, v in env.items() if not k.startswith(PER_REQUEST)}
            self.proc = subprocess.Popen(
                [sys.executable, "-c", DAGBAG_PROBE], env=base, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
            )
        request = {"env": {k: v for k, v in env.items() if k.startswith(PER_REQUEST)}, "folder": str(DAGS_DIR)}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith("DAGBAG="):
                result = json.loads(line[len("DAGBAG="):])
                assert "probe_error" not in result, result["probe_error"]
                return result
        pytest.fail(f"the DagBag probe exited with {self.proc.wait()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_PROBE = DagBagProbe()


@pytest.fixture(scope="module", autouse=True)
def _stop_the_probe():
    """The probe lives while this module's tests run (another module's use starts it again)."""
    yield
    _PROBE.stop()
RUN_DATE_ARG = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"
# What every spark-submit gets so that the task log is quiet (the CLI's own log4j2 file).
QUIET = _log4j_conf()
ERRORS_FILE = str(DAGS_DIR / "imbalance_downsampling_config_errors.py")

DAYS = 3
ROWS_PER_DAY = 2_000
MINORITY_ROWS = 20  # per day: ids divisible by 100 fall evenly on the three days
MAJORITY_ROWS = ROWS_PER_DAY - MINORITY_ROWS
FACTOR = 10


def run_bounded(cmd: list[str], env: dict[str, str], timeout: float, cwd: Path | None = None):
    """Run a command in its own process group; on timeout kill the group (spark-submit, JVMs)."""
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(cmd[:4])} ... timed out after {timeout}s:\n{out[-5000:]}")
    finally:
        # Whatever the command left behind in its group (a spark-submit JVM) goes with it.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return proc.returncode, out


def airflow_env(
    home: Path,
    datasets_dir: Path | None = None,
    py_files: str | None = None,
    spark_conf: dict[str, str] | None = None,
    connect_url: str | None = None,
) -> dict[str, str]:
    """Environment of an Airflow subprocess: home, sqlite DB, variables and connection in `home`."""
    env = dict(os.environ)
    for key in list(env):
        if key.startswith(("AIRFLOW_", "AIRFLOW__")):
            del env[key]
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW_VAR_IMBALANCE_SPARK_CONN_ID": CONN_ID,
            # The provider finds `spark-submit` on PATH (it refuses a `spark-home` extra).
            f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(
                {
                    "conn_type": "spark",
                    "host": "local[2]",
                    "extra": {"spark-binary": "spark-submit"},
                }
            ),
            "PATH": os.pathsep.join([str(SPARK_BIN), str(VENV_BIN), env["PATH"]]),
            "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}",
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            "SPARK_LOCAL_IP": "127.0.0.1",
        }
    )
    if datasets_dir is not None:
        env["AIRFLOW_VAR_IMBALANCE_SPARK_DATASETS_DIR"] = str(datasets_dir)
    if py_files is not None:
        env["AIRFLOW_VAR_IMBALANCE_SPARK_PY_FILES"] = py_files
    if spark_conf is not None:
        env["AIRFLOW_VAR_IMBALANCE_SPARK_CONF"] = json.dumps(spark_conf)
    if connect_url is not None:
        # The Variable switches every DAG to Spark Connect, through this `spark_connect` connection.
        host, port = connect_url.removeprefix("sc://").split(":")
        env["AIRFLOW_VAR_IMBALANCE_SPARK_CONNECT_CONN_ID"] = CONNECT_CONN_ID
        env[f"AIRFLOW_CONN_{CONNECT_CONN_ID.upper()}"] = json.dumps(
            {"conn_type": "spark_connect", "host": host, "port": int(port)}
        )
    # spark-submit's JVM starts from the tests' class-data archive, as every test JVM does.
    return with_driver_java_options(env)


def load_dagbag(env: dict[str, str]) -> dict:
    """The DAGs and import errors of jobs/dags as parsed by a real DagBag (the module's probe)."""
    return _PROBE.load(env)


def write_dataset(path: Path, dataset: str, extra: str = "", input_path: str = "/in",
                  output_dir: Path | None = None) -> Path:
    """A dataset YAML with absolute paths (the task's working directory is Airflow's)."""
    out = output_dir or Path("/nonexistent")
    path.write_text(
        textwrap.dedent(
            f"""\
            dataset: {dataset}
            input:
              path: {input_path}
              format: parquet
              date_column: event_date
            label_column: is_fraud
            minority_classes: [1]
            downsampling:
              factor: {FACTOR}
              seed: 42
            weight:
              column: example_weight
            output:
              path: {out / "output"}
              partition_by: [event_date]
            report:
              path: {out / "report.json"}
            """
        )
        + textwrap.dedent(extra)
    )
    return path


def airflow_cli(env: dict[str, str], *args: str, timeout: float = 300, cwd: Path | None = None):
    """Run `airflow ARGS` in a subprocess; fail the test with the output's tail if it fails."""
    rc, out = run_bounded([sys.executable, "-m", "airflow", *args], env, timeout=timeout, cwd=cwd)
    assert rc == 0, f"airflow {' '.join(args)} failed:\n{out[-8000:]}"
    return out


# Airflow's own CLI, several commands in one interpreter (Airflow's import costs seconds a command):
# what `airflow ARGS` runs (airflow/__main__.py), each command's output after a marker line.
AIRFLOW_COMMANDS = textwrap.dedent(
    """
    import json, sys
    from airflow.cli import cli_parser
    from airflow.configuration import write_default_airflow_configuration_if_needed

    write_default_airflow_configuration_if_needed()
    parser = cli_parser.get_parser()
    for argv in json.loads(sys.argv[1]):
        print("@@airflow " + " ".join(argv), flush=True)
        args = parser.parse_args(argv)
        args.func(args)
        sys.stdout.flush(), sys.stderr.flush()
    """
)


def airflow_commands(env: dict[str, str], *commands: list[str], timeout: float = 300) -> list[str]:
    """Run Airflow CLI commands in turn in one Airflow process; each command's output, in order."""
    rc, out = run_bounded([sys.executable, "-c", AIRFLOW_COMMANDS, json.dumps(commands)], env, timeout=timeout)
    assert rc == 0, f"airflow {commands} failed:\n{out[-8000:]}"
    parts = re.split(r"^@@airflow .*$", out, flags=re.MULTILINE)
    assert len(parts) == len(commands) + 1, out[-8000:]
    return parts[1:]


def test_the_repos_configs_schedule_nothing_unasked(tmp_path):
    """conf/datasets/ as shipped: the demo has no schedule, so a copy of it never runs daily unasked."""
    bag = load_dagbag(airflow_env(tmp_path))
    assert bag == {"dags": {}, "errors": {}}


def test_dagbag_has_one_task_per_scheduled_dataset_config(tmp_path):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    demo = (REPO_ROOT / "conf" / "datasets" / "demo_fraud.yaml").read_text()
    assert "\n# schedule:\n#   cron: \"@daily\"\n" in demo  # how the demo says to enable it
    enabled = datasets / "demo_fraud.yaml"
    enabled.write_text(demo.replace('# schedule:\n#   cron: "@daily"', 'schedule:\n  cron: "@daily"'))
    write_dataset(datasets / "other.yaml", "other", "schedule: {}\n")
    bag = load_dagbag(airflow_env(tmp_path, datasets_dir=datasets))

    assert bag["errors"] == {}
    expected = {DAG_PREFIX + "demo_fraud": enabled, DAG_PREFIX + "other": datasets / "other.yaml"}
    assert set(bag["dags"]) == set(expected)
    for dag_id, path in expected.items():
        dag = bag["dags"][dag_id]
        assert list(dag["tasks"]) == ["downsample"]
        task = dag["tasks"]["downsample"]
        assert task["type"] == "SparkSubmitOperator"
        assert task["application"] == str(REPO_ROOT / "jobs" / "downsample.py")
        assert task["application_args"] == [
            "--config", str(path.resolve()), "--run-date", RUN_DATE_ARG
        ]
        # the Delta jars `make install` cached, else Ivy's --packages
        if cached_jars_arg():
            assert (task["jars"], task["packages"]) == (cached_jars_arg(), None)
        else:
            assert (task["jars"], task["packages"]) == (None, delta_packages_arg())
        assert task["conn_id"] == CONN_ID
        # the project's log4j2 file, for driver and executors, as the CLI passes it
        assert task["conf"] == QUIET and "-Dlog4j2.configurationFile=file:" in QUIET["spark.driver.extraJavaOptions"]
        assert task["py_files"] == str(REPO_ROOT / "dist" / "imbalance_spark.zip")
        assert task["name"] == f"imbalance-spark-{dag_id[len(DAG_PREFIX):]}-{RUN_DATE_ARG}"
        assert dag["max_active_runs"] == 1
        assert task["retries"] >= 1
        assert task["execution_timeout_s"] > 0


def test_the_verbose_variable_brings_sparks_logs_back(tmp_path):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    write_dataset(datasets / "plain.yaml", "plain", "schedule: {}\n")
    env = airflow_env(tmp_path, datasets_dir=datasets, py_files="")
    env["AIRFLOW_VAR_IMBALANCE_SPARK_VERBOSE"] = "true"
    task = load_dagbag(env)["dags"][DAG_PREFIX + "plain"]["tasks"]["downsample"]
    assert task["conf"] is None  # no log4j2 file
    assert task["application_args"][-1] == "-v"


def test_a_bad_or_clashing_yaml_keeps_the_other_dags_and_is_an_import_error_naming_it(tmp_path):
    """An unedited copy (the same dataset name: the same DAG id) and broken YAMLs: the good DAGs stay."""
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    first = write_dataset(datasets / "a_first.yaml", "shared", "schedule: {}\n")
    copy = datasets / "b_copy.yaml"
    copy.write_text(first.read_text())
    broken = write_dataset(datasets / "c_broken.yaml", "broken", "schedule:\n  corn: '@daily'\n")
    bad_spark = write_dataset(datasets / "d_spark.yaml", "bad_spark", "schedule: {}\nspark: {quickstart: true}\n")
    write_dataset(datasets / "e_good.yaml", "good", "schedule: {}\n")
    bag = load_dagbag(airflow_env(tmp_path, datasets_dir=datasets))

    assert set(bag["dags"]) == {DAG_PREFIX + "shared", DAG_PREFIX + "good"}
    assert bag["dags"][DAG_PREFIX + "shared"]["tasks"]["downsample"]["application_args"][1] == str(first)
    assert list(bag["errors"]) == [ERRORS_FILE]
    error = bag["errors"][ERRORS_FILE]
    assert "3 dataset config problem(s)" in error
    lines = error.splitlines()
    assert f"{copy}: dataset 'shared' is also the dataset of {first}; give each config its own dataset name (and output)" in lines
    assert f"{broken}: schedule.corn: unknown key; did you mean 'cron'?" in lines
    assert any(line.startswith(f"{bad_spark}: spark.quickstart: unknown key") for line in lines)


def test_schedule_opt_out_and_overrides(tmp_path):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    write_dataset(datasets / "a_default.yaml", "plain", "schedule: {}\n")
    write_dataset(datasets / "b_off.yaml", "switched_off", "schedule:\n  enabled: false\n")
    write_dataset(datasets / "d_unasked.yaml", "unasked")  # no schedule block: no DAG
    write_dataset(
        datasets / "c_own.yml",
        "nightly",
        """\
        schedule:
          cron: "30 2 * * *"
          start_date: 2026-10-01
          catchup: true
          max_active_runs: 3
          retries: 0
          retry_delay_minutes: 1
          execution_timeout_minutes: 20
        """,
    )
    bag = load_dagbag(airflow_env(tmp_path, datasets_dir=datasets, py_files=""))

    assert bag["errors"] == {}
    assert set(bag["dags"]) == {DAG_PREFIX + "plain", DAG_PREFIX + "nightly"}
    plain, nightly = bag["dags"][DAG_PREFIX + "plain"], bag["dags"][DAG_PREFIX + "nightly"]
    assert "@daily" in plain["schedule"] and plain["catchup"] is False
    assert plain["tasks"]["downsample"]["py_files"] is None
    assert "30 2 * * *" in nightly["schedule"]
    assert nightly["start_date"].startswith("2026-10-01T00:00:00")
    assert nightly["catchup"] is True and nightly["max_active_runs"] == 3
    task = nightly["tasks"]["downsample"]
    assert (task["retries"], task["retry_delay_s"], task["execution_timeout_s"]) == (0, 60, 1200)
    assert task["application_args"][1] == str((datasets / "c_own.yml").resolve())


def test_a_datasets_spark_block_reaches_spark_submit(tmp_path):
    """`spark.conf` and `spark.quick_start` in the YAML become the task's --conf, over the Variable's."""
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    write_dataset(
        datasets / "quick.yaml",
        "quick",
        "schedule: {}\nspark:\n  quick_start: true\n  conf: {spark.executor.memory: 3g, spark.sql.shuffle.partitions: 8}\n",
    )
    write_dataset(datasets / "plain.yaml", "plain", "schedule: {}\n")
    variable = {"spark.executor.memory": "8g", "spark.driver.memory": "4g"}
    bag = load_dagbag(airflow_env(tmp_path, datasets_dir=datasets, py_files="", spark_conf=variable))

    assert bag["errors"] == {}
    quick = bag["dags"][DAG_PREFIX + "quick"]["tasks"]["downsample"]["conf"]
    assert quick == {
        "spark.executor.memory": "3g",  # the dataset's own wins over the Variable's
        "spark.driver.memory": "4g",
        "spark.sql.shuffle.partitions": "8",
        # the quiet log4j2 file, and the quick JIT added to it
        "spark.driver.extraJavaOptions": QUIET["spark.driver.extraJavaOptions"] + " -XX:TieredStopAtLevel=1",
        "spark.executor.extraJavaOptions": QUIET["spark.executor.extraJavaOptions"],
    }
    assert bag["dags"][DAG_PREFIX + "plain"]["tasks"]["downsample"]["conf"] == {**QUIET, **variable}


def test_an_empty_jars_variable_resolves_the_delta_jars_with_ivy(tmp_path):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    write_dataset(datasets / "plain.yaml", "plain", "schedule: {}\n")
    env = airflow_env(tmp_path, datasets_dir=datasets, py_files="")
    env["AIRFLOW_VAR_IMBALANCE_SPARK_JARS"] = ""
    task = load_dagbag(env)["dags"][DAG_PREFIX + "plain"]["tasks"]["downsample"]
    assert (task["jars"], task["packages"]) == (None, delta_packages_arg())


@pytest.mark.parametrize(
    "schedule, key",
    [
        ("  every: day\n", "schedule.every"),
        ("  retries: true\n", "schedule.retries"),
        ("  max_active_runs: 0\n", "schedule.max_active_runs"),
        ("  start_date: 1st of May\n", "schedule.start_date"),
    ],
)
def test_bad_schedule_is_an_import_error_naming_file_and_key(tmp_path, schedule, key):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    bad = write_dataset(datasets / "bad.yaml", "bad", "schedule:\n" + schedule)
    bag = load_dagbag(airflow_env(tmp_path, datasets_dir=datasets))

    assert bag["dags"] == {}
    (error,) = bag["errors"].values()
    assert str(bad) in error and key in error
    assert list(bag["errors"]) == [ERRORS_FILE]


def test_missing_datasets_dir_is_an_import_error(tmp_path):
    bag = load_dagbag(airflow_env(tmp_path, datasets_dir=tmp_path / "no-such-dir"))

    assert bag["dags"] == {}
    (error,) = bag["errors"].values()
    assert str(tmp_path / "no-such-dir") in error


@pytest.mark.slow
def test_run_date_renders_for_dated_runs_and_runs_without_logical_date(airflow_home, tmp_path):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    config = write_dataset(datasets / "render.yaml", "render_check", "schedule: {}\n")
    env = airflow_env(airflow_home, datasets_dir=datasets)
    dag_id = DAG_PREFIX + "render_check"

    # Airflow 3 creates a triggered run without a logical date unless one is given.
    before = dt.datetime.now(dt.timezone.utc).date()
    dated, _, _, undated = airflow_commands(
        env,
        ["tasks", "render", dag_id, "downsample", RUN_DATE],
        ["dags", "reserialize"],
        ["dags", "trigger", dag_id, "--run-id", "manual_without_date"],
        ["tasks", "render", dag_id, "downsample", "manual_without_date"],
    )

    assert f"['--config', '{config.resolve()}', '--run-date', '{RUN_DATE}']" in dated
    triggered_on = dt.datetime.now(dt.timezone.utc).date()
    dates = re.findall(r"'--run-date', '([0-9-]+)'", undated)
    assert dates and before - dt.timedelta(days=1) <= dt.date.fromisoformat(dates[0]) <= triggered_on


@pytest.fixture(scope="module")
def small_fraud_input(spark, tmp_path_factory) -> str:
    """6,000 rows over the three days around RUN_DATE, 1% label 1 each day, as parquet."""
    schema = StructType(
        [
            StructField("id", LongType(), False),
            StructField("amount", DoubleType(), True),
            StructField("is_fraud", IntegerType(), True),
            StructField("event_date", DateType(), True),
        ]
    )
    path = str(tmp_path_factory.mktemp("dag_input") / "transactions")
    first_day = dt.date.fromisoformat(RUN_DATE) - dt.timedelta(days=1)
    (
        spark.range(DAYS * ROWS_PER_DAY)
        .select(
            F.col("id"),
            (F.col("id") % 97 * 1.5).alias("amount"),
            (F.col("id") % 100 == 0).cast("int").alias("is_fraud"),
            F.date_add(F.lit(first_day), (F.col("id") % DAYS).cast("int")).alias("event_date"),
        )
        .to(schema)
        .write.parquet(path)
    )
    return path


@pytest.mark.slow
def test_airflow_dags_test_runs_spark_submit_for_one_date(
    spark, airflow_home, small_fraud_input, py_files_zip, tmp_path
):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    out = tmp_path / "out"
    write_dataset(
        datasets / "e2e.yaml", "e2e_fraud", "schedule:\n  retries: 0\nspark:\n  quick_start: true\n",
        input_path=small_fraud_input, output_dir=out,
    )
    env = airflow_env(
        airflow_home, datasets_dir=datasets, py_files=str(py_files_zip), spark_conf=SMALL_JOB_CONF
    )

    log = airflow_cli(env, "dags", "test", DAG_PREFIX + "e2e_fraud", RUN_DATE, timeout=600,
                      cwd=tmp_path)

    submit = next(x for x in log.splitlines() if "Spark-Submit cmd:" in x)
    assert "--master local[2]" in submit
    jars = cached_jars_arg()
    assert (f"--jars {jars}" if jars else f"--packages {delta_packages_arg()}") in submit
    assert f"--py-files {py_files_zip}" in submit
    assert f"--run-date {RUN_DATE}" in submit
    assert f"--conf spark.sql.shuffle.partitions={SMALL_JOB_CONF['spark.sql.shuffle.partitions']}" in submit
    assert f"--conf spark.driver.extraJavaOptions={QUIET['spark.driver.extraJavaOptions']}" in submit
    assert "state=success" in log
    # quiet: the project's log4j2 file keeps Spark's INFO lines out of the task log
    spark_info = [x for x in log.splitlines() if re.search(r" INFO (SparkContext|Executor|DAGScheduler|TaskSetManager)", x)]
    assert spark_info == [], spark_info[:5]

    out_df = spark.read.format("delta").load(str(out / "output"))
    # Only the run date's slice of the input was processed.
    assert [r["event_date"] for r in out_df.select("event_date").distinct().collect()] == [
        dt.date.fromisoformat(RUN_DATE)
    ]
    by_class = {
        r["is_fraud"]: (r["n"], r["w_min"], r["w_max"])
        for r in out_df.groupBy("is_fraud")
        .agg(
            F.count("*").alias("n"),
            F.min("example_weight").alias("w_min"),
            F.max("example_weight").alias("w_max"),
        )
        .collect()
    }
    assert by_class[1] == (MINORITY_ROWS, 1.0, 1.0)
    kept, w_min, w_max = by_class[0]
    mean = MAJORITY_ROWS / FACTOR
    sd = (MAJORITY_ROWS * (1 / FACTOR) * (1 - 1 / FACTOR)) ** 0.5
    assert abs(kept - mean) < 5 * sd
    assert (w_min, w_max) == (float(FACTOR), float(FACTOR))

    report_text = (out / "report.json").read_text()
    report = json.loads(report_text)
    assert report["dataset"] == "e2e_fraud"
    assert report["output"]["rows"] == out_df.count()
    assert RUN_DATE in report_text


def test_connect_variable_makes_each_dag_a_connect_task(tmp_path):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    config = write_dataset(datasets / "a.yaml", "through_connect", "schedule: {}\n")
    bag = load_dagbag(airflow_env(tmp_path, datasets_dir=datasets, connect_url="sc://127.0.0.1:15002"))

    assert bag["errors"] == {}
    task = bag["dags"][DAG_PREFIX + "through_connect"]["tasks"]["downsample"]
    assert task["type"] == "PythonOperator"
    assert task["op_kwargs"] == {"conn_id": CONNECT_CONN_ID, "config": str(config.resolve()), "run_date": RUN_DATE_ARG}
    assert task["retries"] >= 1


@pytest.mark.slow
def test_airflow_dags_test_runs_through_spark_connect_for_one_date(
    spark, airflow_home, small_fraud_input, connect_url, tmp_path
):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    out = tmp_path / "out"
    write_dataset(
        datasets / "e2e.yaml", "e2e_connect", "schedule:\n  retries: 0\n",
        input_path=small_fraud_input, output_dir=out,
    )
    env = airflow_env(airflow_home, datasets_dir=datasets, connect_url=connect_url)
    # The worker needs no JVM: nothing on its PATH can start one.
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != str(SPARK_BIN))

    log = airflow_cli(env, "dags", "test", DAG_PREFIX + "e2e_connect", RUN_DATE, timeout=600, cwd=tmp_path)

    assert "state=success" in log
    assert "Spark-Submit cmd:" not in log
    out_df = spark.read.format("delta").load(str(out / "output"))
    assert [r["event_date"] for r in out_df.select("event_date").distinct().collect()] == [
        dt.date.fromisoformat(RUN_DATE)
    ]
    by_class = {r["is_fraud"]: r["n"] for r in out_df.groupBy("is_fraud").agg(F.count("*").alias("n")).collect()}
    assert by_class[1] == MINORITY_ROWS
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"] == "e2e_connect"
    assert report["output"]["rows"] == out_df.count()
    assert report["run_dates"]["start"] == RUN_DATE
