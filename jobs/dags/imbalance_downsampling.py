"""Airflow DAGs for imbalance-spark: one DAG per dataset YAML, each one spark-submit of the job
(or, with the imbalance_spark_connect_conn_id Variable set, one run through a Spark Connect server).

Parsing reads only each YAML's ``dataset``, ``schedule`` and ``spark`` keys, without
Spark; the job validates the rest. A YAML that is broken, or that shares its dataset name with an
earlier one, gets no DAG and is reported by imbalance_downsampling_config_errors.py
(an import error of that file): an import error here would take every dataset's DAG down.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Variable

from imbalance_spark.config.folder import scan_datasets
from imbalance_spark.config.load import load_spark_settings
from imbalance_spark.config.models import ScheduleConfig
from imbalance_spark.config.scheduler import yaml_mapping
from imbalance_spark.errors import ConfigError
from imbalance_spark.packages import cached_jars_arg, delta_packages_arg
from imbalance_spark.session import _log4j_conf, with_quick_start

# Each setting is an Airflow Variable, so it can come from the UI, a secrets backend or an
# AIRFLOW_VAR_IMBALANCE_SPARK_<NAME> environment variable without editing this file.
PROJECT_ROOT = Path(Variable.get("imbalance_spark_home", default=None) or Path(__file__).resolve().parents[2])
DATASETS_DIR = Path(Variable.get("imbalance_spark_datasets_dir", default=None) or PROJECT_ROOT / "conf" / "datasets")
CONN_ID = Variable.get("imbalance_spark_conn_id", default="spark_default")
# The imbalance_spark package zipped for --py-files (docs/airflow.md, built by `make zip`);
# an empty value ships nothing and relies on the package being installed where the job runs.
PY_FILES = Variable.get("imbalance_spark_py_files", default=str(PROJECT_ROOT / "dist" / "imbalance_spark.zip"))
# Extra spark-submit --conf pairs as a JSON object, e.g. the memory settings of the cluster:
# {"spark.executor.memory": "8g", "spark.driver.memory": "4g"}. A dataset YAML's own `spark`
# block (conf, quick_start) is added to them and wins for that dataset.
SPARK_CONF = Variable.get("imbalance_spark_conf", default={}, deserialize_json=True)
# The Delta jars as local files for --jars: by default the ones `make install` cached on this
# machine (`imbalance-spark packages --fetch`); an empty value, or no cache, resolves them with
# Ivy through --packages at every run instead (3-5 s per run: docs/performance.md).
DELTA_JARS = Variable.get("imbalance_spark_jars", default=None)
DELTA_JARS = cached_jars_arg() if DELTA_JARS is None else DELTA_JARS
# A `spark_connect` connection (host, port, token): when set, each task runs the job through that
# Spark Connect server from the worker, which then needs neither a JVM nor the Delta jars.
CONNECT_CONN_ID = Variable.get("imbalance_spark_connect_conn_id", default="") or None
# The task log is quiet, as the CLI is: spark-submit gets the project's log4j2 file (warnings and
# errors). "true" brings Spark's INFO logs back (the job runs with -v and without the file).
VERBOSE = str(Variable.get("imbalance_spark_verbose", default="false")).strip().lower() in ("true", "1", "yes")

DAG_ID_PREFIX = "imbalance_downsampling__"
# The run's logical date as YYYY-MM-DD, like {{ ds }}; but Airflow 3 leaves `ds` undefined for a
# run triggered without a logical date, which then runs for the day it was triggered.
RUN_DATE_TEMPLATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"


def run_through_connect(conn_id: str, config: str, run_date: str) -> None:
    """The task of a Connect DAG: ``imbalance-spark run`` with --remote from the Airflow connection."""
    from airflow.providers.apache.spark.hooks.spark_connect import SparkConnectHook

    from imbalance_spark.cli import main

    url = SparkConnectHook(conn_id).get_connection_url()
    code = main(["run", "--config", config, "--run-date", run_date, "--remote", url, *verbose_args()])
    if code != 0:
        # The job printed its one-line error above; the exit code says which kind (see errors.py).
        raise RuntimeError(f"imbalance-spark run exited with code {code} (Spark Connect connection {conn_id})")


def verbose_args() -> list[str]:
    """The job's ``-v`` when the imbalance_spark_verbose Variable asks for Spark's own logs."""
    return ["-v"] if VERBOSE else []


def submit_conf(config_path: Path) -> dict[str, str] | None:
    """spark-submit's --conf for one dataset: the quiet log4j2 file, the Variable's, then the YAML's ``spark`` block.

    ``spark.quick_start`` becomes the driver JVM option it stands for (the JVM is spark-submit's),
    added to the log4j2 option; a YAML's own JVM options replace the log4j2 file, as in the CLI.
    """
    spark = load_spark_settings(config_path)
    quiet = {} if VERBOSE else _log4j_conf()
    conf = {**quiet, **dict(SPARK_CONF), **spark.settings()}
    return (with_quick_start(conf) if spark.quick_start else conf) or None


def is_incremental(config_path: Path) -> bool:
    """Whether a dataset YAML has an ``incremental`` block: its task runs ``--incremental``, with no run date."""
    return bool(yaml_mapping(config_path).get("incremental"))


def job_args(config_path: Path, incremental: bool) -> list[str]:
    """The job's arguments: what is new since the last run (incremental), or the DAG run's date."""
    what = ["--incremental"] if incremental else ["--run-date", RUN_DATE_TEMPLATE]
    return ["--config", str(config_path), *what, *verbose_args()]


def build_dag(config_path: Path, dataset: str, schedule: ScheduleConfig) -> DAG:
    """One DAG with one task that runs the job for the DAG run's logical date: a SparkSubmitOperator,
    or a PythonOperator through Spark Connect when imbalance_spark_connect_conn_id is set.

    An incremental dataset runs ``--incremental`` (every commit since the last run, no date), one run at a
    time and without catch-up (one run reads everything new), always by spark-submit (not over Connect).
    """
    start = schedule.start_date
    incremental = is_incremental(config_path)
    connect = CONNECT_CONN_ID is not None and not incremental
    # Read before the DAG exists: a bad `spark` block must leave no DAG behind (Airflow registers
    # a DAG when its `with` block ends, even by an exception).
    conf = submit_conf(config_path) if not connect else None
    with DAG(
        dag_id=f"{DAG_ID_PREFIX}{dataset}",
        description=f"Downsample the majority class of {dataset} and upweight the kept rows"
        + (" (incremental: what is new in the input since the last run)" if incremental else ""),
        schedule=schedule.cron,
        start_date=dt.datetime(start.year, start.month, start.day, tzinfo=dt.timezone.utc),
        catchup=schedule.catchup and not incremental,
        max_active_runs=1 if incremental else schedule.max_active_runs,
        default_args={
            "retries": schedule.retries,
            "retry_delay": dt.timedelta(minutes=schedule.retry_delay_minutes),
            "execution_timeout": dt.timedelta(minutes=schedule.execution_timeout_minutes),
        },
        tags=["imbalance-spark"],
    ) as dag:
        if connect:
            PythonOperator(
                task_id="downsample",
                python_callable=run_through_connect,
                op_kwargs={"conn_id": CONNECT_CONN_ID, "config": str(config_path), "run_date": RUN_DATE_TEMPLATE},
            )
            return dag
        SparkSubmitOperator(
            task_id="downsample",
            conn_id=CONN_ID,
            application=str(PROJECT_ROOT / "jobs" / "downsample.py"),
            application_args=job_args(config_path, incremental),
            packages=None if DELTA_JARS else delta_packages_arg(),
            jars=DELTA_JARS or None,
            conf=conf,
            py_files=PY_FILES or None,
            name=f"imbalance-spark-{dataset}-{'incremental' if incremental else RUN_DATE_TEMPLATE}",
        )
    return dag


def build_dags(datasets_dir: Path) -> dict[str, DAG]:
    """A DAG for every enabled, valid dataset YAML in ``datasets_dir``, keyed by dag_id.

    A broken YAML, or one that clashes with an earlier one, is skipped here: the config-errors
    DAG file reports it, so that one bad file never takes the other datasets' DAGs down.
    """
    if not datasets_dir.is_dir():
        # A mistyped setting would otherwise make every DAG vanish without a word.
        raise FileNotFoundError(f"imbalance_spark_datasets_dir: {datasets_dir} is not a directory")
    dags: dict[str, DAG] = {}
    kept, _ = scan_datasets(datasets_dir)
    for found in kept:
        if not found.schedule.enabled:
            continue
        try:
            dag = build_dag(found.path.resolve(), found.dataset, found.schedule)
        except ConfigError:  # a bad `spark` block: reported by the config-errors DAG file
            continue
        dags[dag.dag_id] = dag
    return dags


globals().update(build_dags(DATASETS_DIR))
