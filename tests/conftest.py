"""Shared fixtures: what is expensive is started or generated once per test session.

One local Spark session with Delta (``spark``); the generated table (``small_fraud_table``); the
package zip for ``--py-files``; and the long-lived subprocesses: a Spark Connect server
(``connect_url``), a standalone cluster (``standalone_cluster``) and an Airflow home with a
migrated database (``airflow_home``). Each is started on first use, on free loopback ports, in its
own temporary folder, and stopped at the end of the session.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

# py4j logs at INFO while closing at interpreter exit, after pytest closed captured streams.
logging.getLogger("py4j").setLevel(logging.WARNING)

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CONNECT_SERVER_SCRIPT = REPO_ROOT / "scripts" / "connect-server.sh"
LOCAL_CLUSTER_SCRIPT = REPO_ROOT / "scripts" / "local-cluster.sh"
# Attempts at starting a server on a free port: another process may take the port in between.
PORT_ATTEMPTS = 3

# The test session's settings, measured on 2 cores (docs/development.md): small shuffles and Delta
# log replays, no UI, UTC. A subprocess job given the same settings through --conf keeps its own
# session as small as this one.
SMALL_JOB_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.enabled": "false",
    "spark.databricks.delta.snapshotPartitions": "1",
}


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """A session-scoped local[2] SparkSession with Delta, UTC, small shuffles, no UI."""
    from imbalance_spark.session import build_spark_session

    warehouse = tmp_path_factory.mktemp("warehouse")
    session = build_spark_session(
        master="local[2]",
        app_name="imbalance-spark-tests",
        conf={
            **SMALL_JOB_CONF,
            "spark.default.parallelism": "2",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.warehouse.dir": str(warehouse),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={warehouse} {driver_java_options()}",
        },
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def small_fraud_table(spark, tmp_path_factory) -> str:
    """A 30k-row synthetic transaction table (Delta, partitioned by event_date, 2026-01-01..03), 3% fraud."""
    from imbalance_spark.synthetic import write_demo_table

    path = str(tmp_path_factory.mktemp("small_fraud") / "transactions")
    write_demo_table(spark, path, rows=30_000, fraud_rate=0.03, days=3, seed=9)
    return path


def write_config(path: Path, text: str) -> Path:
    """Write a YAML config file and return its path."""
    path.write_text(text)
    return path


def _python_env() -> dict[str, str]:
    """The environment with the test's interpreter and repo first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYSPARK_PYTHON"] = PYTHON
    return env


# The JVM options of every JVM the tests start, measured side by side on 2 cores (docs/development.md):
# the serial collector (G1's concurrent threads take CPU from the work on 2 cores: in-process tests
# -10%), and in the short-lived JVMs of subprocess tests the quick JIT only (C1: the spark-submit
# tests -17%; the test session's own JVM runs for the whole session and is faster with C2). They
# change how fast a JVM runs, never what it does.
SESSION_JVM_OPTIONS = "-XX:+UseSerialGC"
SUBPROCESS_JVM_OPTIONS = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"


@functools.cache
def _archive_options() -> str:
    """The class-data-sharing archive's options (tests/jvm_archive.py), or ''."""
    from tests.jvm_archive import java_options

    return java_options(_python_env())


def driver_java_options() -> str:
    """JVM options of the test session's own driver JVM: the archive and the serial collector."""
    return " ".join(o for o in (_archive_options(), SESSION_JVM_OPTIONS) if o)


def with_driver_java_options(env: dict[str, str]) -> dict[str, str]:
    """``env`` whose spark-submit JVMs start with the archive and the subprocess options (SPARK_SUBMIT_OPTS, kept)."""
    options = " ".join(o for o in (env.get("SPARK_SUBMIT_OPTS"), _archive_options(), SUBPROCESS_JVM_OPTIONS) if o)
    return {**env, "SPARK_SUBMIT_OPTS": options}


def cli_env() -> dict[str, str]:
    """Environment for CLI subprocesses: the test's interpreter and repo first on the path, the test JVM options."""
    return with_driver_java_options(_python_env())


def pytest_collection_modifyitems(config, items):
    """Run the fast tests first and the slow end-to-end ones last, so progress shows from the start."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _on_a_free_port(start: Callable[[int], subprocess.CompletedProcess]) -> subprocess.CompletedProcess:
    """``start(port)`` on a free port, again on another one if the first was taken meanwhile."""
    for _ in range(PORT_ATTEMPTS):
        result = start(free_port())
        if result.returncode == 0 or "is taken" not in result.stderr:
            return result
    return result


def delta_jars_args() -> list[str]:
    """spark-submit's options for the Delta jars: those `make install` cached, else ``--packages``.

    The cached jars spare each submit an Ivy resolution (seconds); test_jobs.py keeps one submit
    with ``--packages``, as the README shows it.
    """
    from imbalance_spark.packages import cached_jars_arg, delta_packages_arg

    jars = cached_jars_arg()
    return ["--jars", jars] if jars else ["--packages", delta_packages_arg()]


@pytest.fixture(scope="session")
def py_files_zip(tmp_path_factory) -> Path:
    """The imbalance_spark package zipped for --py-files, built with the command `make zip` runs."""
    zip_path = tmp_path_factory.mktemp("dist") / "imbalance_spark.zip"
    subprocess.run(
        [sys.executable, "-m", "imbalance_spark.packages", "zip", str(zip_path)],
        cwd=REPO_ROOT, check=True, env=cli_env(),
    )
    return zip_path


@pytest.fixture(scope="session")
def connect_url(tmp_path_factory):
    """A Spark Connect server with Delta, started by scripts/connect-server.sh, stopped at the end."""
    state = tmp_path_factory.mktemp("connect_server")
    env = {
        **cli_env(),
        "PYTHON": sys.executable,
        "CONNECT_SERVER_DIR": str(state),
        "CONNECT_SERVER_MASTER": "local[2]",
    }
    env.pop("SPARK_REMOTE", None)
    settings = {**SMALL_JOB_CONF, "spark.sql.warehouse.dir": str(state / "warehouse")}
    conf_args = [arg for k, v in settings.items() for arg in ("--conf", f"{k}={v}")]

    def start(port: int) -> subprocess.CompletedProcess:
        env["CONNECT_SERVER_PORT"] = str(port)
        return subprocess.run(
            [str(CONNECT_SERVER_SCRIPT), "start", *conf_args],
            env=env, cwd=state, capture_output=True, text=True, timeout=300,
        )

    try:
        started = _on_a_free_port(start)
        assert started.returncode == 0, started.stderr[-5000:]
        yield started.stdout.strip().splitlines()[-1]
    finally:
        # Stopped even when a test (or the start) failed: stop signals what start recorded.
        subprocess.run([str(CONNECT_SERVER_SCRIPT), "stop"], env=env, capture_output=True, timeout=120)


@dataclass(frozen=True)
class Cluster:
    """A running standalone cluster: its master URL, state folder and the script's environment."""

    master_url: str
    state_dir: Path
    env: dict[str, str]


def cluster_script(command: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    """Run ``scripts/local-cluster.sh COMMAND``."""
    return subprocess.run(
        ["bash", str(LOCAL_CLUSTER_SCRIPT), command], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def standalone_cluster(tmp_path_factory, request) -> Cluster:
    """A master and two one-core workers on free loopback ports, stopped at the end of the session."""
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
        "SPARK_DAEMON_JAVA_OPTS": SUBPROCESS_JVM_OPTIONS,
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


def airflow_base_env(home: Path) -> dict[str, str]:
    """The environment of an Airflow subprocess whose home (config, sqlite DB, logs) is ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    })
    return with_driver_java_options(env)


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> Path:
    """An AIRFLOW_HOME with a migrated sqlite database, shared by every test of the session."""
    import importlib.util

    if importlib.util.find_spec("airflow") is None:
        pytest.skip("Airflow is not installed (pip install -e .[airflow])")
    home = tmp_path_factory.mktemp("airflow_home")
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=airflow_base_env(home), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-8000:]
    return home



# --- Shared evaluation (issue #21): one small evaluation that several files assert on -------------
# Appended by the evaluate-family tests. One evaluation with calibration per test day and segment
# (test_evaluate_calibration.py), logged to an MLflow store when the extra is installed
# (test_tracking.py reads the run back), instead of one evaluation per file.

SEGMENT_FACTOR = 10.0
# A wide band, so that a few hundred positives per day and segment are enough to tell: (3 / 0.3)^2 = 100.
SEGMENT_BAND = 0.3
# The MLflow experiment the shared evaluation is logged to (with the mlflow extra).
SEGMENT_EXPERIMENT = "evaluations"


def segment_config(input_path: str, out: Path, features: list[str], **evaluate) -> dict:
    """An evaluate config with calibration per day (date split) and per `segment`, small and quick."""
    return {
        "dataset": "segments",
        "input": {"path": input_path, "format": "delta", "date_column": "event_date"},
        "label_column": "label",
        "minority_classes": [1],
        "downsampling": {"factor": SEGMENT_FACTOR, "seed": 42},
        "output": {"path": str(out / "output")},
        "evaluate": {
            "features": features,
            "factors": [1, SEGMENT_FACTOR],
            "segments": ["segment"],
            "calibration_tolerance": SEGMENT_BAND,
            "min_test_positives": 100,
            "bootstrap_replicates": 20,
            "score_bins": 50,
            "max_iter": 10,
            "output_dir": str(out / "evaluate"),
            "split": {"by": "date", "test_from": "2026-01-04"},
            **evaluate,
        },
    }


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory) -> tuple[Path, str]:
    """A SQLite MLflow tracking store: its folder (artifacts land in ./mlruns there) and its URI."""
    root = tmp_path_factory.mktemp("mlflow")
    return root, f"sqlite:///{root / 'mlflow.db'}"


@pytest.fixture(scope="session")
def segment_table(spark, tmp_path_factory) -> str:
    """A 10,000-row logistic table over 5 days, ~14% positives, at Delta version 1 (a property set).

    The two test days hold ~4,000 rows and ~550 positives, segments a and b several hundred each
    (checked from 100), c fewer, a 1% null segment. Version 1, so that a logged version 0 (the
    default) cannot pass for the version the evaluation read.
    """
    from imbalance_spark.synthetic import generate_logistic

    path = str(tmp_path_factory.mktemp("segments") / "table")
    generate_logistic(spark, rows=10_000, intercept=-2.5, days=5, seed=5).write.format("delta").save(path)
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('evaluate.test' = 'version 1')")
    return path


@dataclass(frozen=True)
class SegmentEvaluation:
    """The shared evaluation: its input, config, output folder, printed report and MLflow experiment."""

    table: str
    config: Path
    out: Path  # evaluate.json and the figures are in out / "evaluate"
    report: dict  # the JSON `evaluate --json` printed
    experiment: str | None  # None: the mlflow extra is not installed, nothing was logged


@pytest.fixture(scope="session")
def segment_evaluation(segment_table, mlflow_store, tmp_path_factory) -> SegmentEvaluation:
    """One evaluation through the CLI in process (the test session is reused), of a model blind to the
    segment (so that F = 1 is already miscalibrated on segment b), logged with --mlflow-experiment."""
    import contextlib
    import importlib.util
    import io
    import json

    import yaml

    from imbalance_spark.cli import main

    out = tmp_path_factory.mktemp("segment_evaluation")
    data = segment_config(segment_table, out, ["x1", "device.score"])
    config = write_config(out / "segments.yaml", yaml.safe_dump(data))
    args = ["evaluate", "--config", str(config), "--json", "-q"]
    experiment = SEGMENT_EXPERIMENT if importlib.util.find_spec("mlflow") is not None else None
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout):
        if experiment:
            root, uri = mlflow_store
            mp.setenv("MLFLOW_TRACKING_URI", uri)
            mp.chdir(root)  # the store's default artifact root is ./mlruns
            args += ["--mlflow-experiment", experiment]
        assert main(args) == 0
    return SegmentEvaluation(segment_table, config, out, json.loads(stdout.getvalue()), experiment)
