"""Shared fixtures: one local Spark session with Delta, and small generated tables."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# py4j logs at INFO while closing at interpreter exit, after pytest closed captured streams.
logging.getLogger("py4j").setLevel(logging.WARNING)

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CONNECT_SERVER_SCRIPT = REPO_ROOT / "scripts" / "connect-server.sh"


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """A session-scoped local[2] SparkSession with Delta, UTC, small shuffles, no UI."""
    from imbalance_spark.session import build_spark_session

    warehouse = tmp_path_factory.mktemp("warehouse")
    session = build_spark_session(
        master="local[2]",
        app_name="imbalance-spark-tests",
        conf={
            "spark.sql.shuffle.partitions": "4",
            "spark.default.parallelism": "4",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.warehouse.dir": str(warehouse),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={warehouse}",
            "spark.databricks.delta.snapshotPartitions": "2",
        },
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def fraud_table(spark, tmp_path_factory) -> str:
    """A 300k-row synthetic transaction table (Delta, partitioned by event_date), 2% fraud."""
    from imbalance_spark.synthetic import write_demo_table

    path = str(tmp_path_factory.mktemp("fraud") / "transactions")
    write_demo_table(spark, path, rows=300_000, fraud_rate=0.02, days=5, seed=11)
    return path


@pytest.fixture(scope="session")
def small_fraud_table(spark, tmp_path_factory) -> str:
    """A 30k-row synthetic transaction table (Delta, partitioned by event_date, 3 days), 3% fraud."""
    from imbalance_spark.synthetic import write_demo_table

    path = str(tmp_path_factory.mktemp("small_fraud") / "transactions")
    write_demo_table(spark, path, rows=30_000, fraud_rate=0.03, days=3, seed=9)
    return path


def write_config(path: Path, text: str) -> Path:
    """Write a YAML config file and return its path."""
    path.write_text(text)
    return path


def cli_env() -> dict[str, str]:
    """Environment for CLI subprocesses: the test's interpreter and repo first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYSPARK_PYTHON"] = PYTHON
    return env


def pytest_collection_modifyitems(config, items):
    """Run the fast tests first and the slow end-to-end ones last, so progress shows from the start."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def connect_url(tmp_path_factory):
    """A Spark Connect server with Delta, started by scripts/connect-server.sh, stopped at the end."""
    state = tmp_path_factory.mktemp("connect_server")
    env = {
        **cli_env(),
        "PYTHON": sys.executable,
        "CONNECT_SERVER_DIR": str(state),
        "CONNECT_SERVER_PORT": str(free_port()),
        "CONNECT_SERVER_MASTER": "local[2]",
    }
    env.pop("SPARK_REMOTE", None)
    settings = {
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.warehouse.dir": str(state / "warehouse"),
    }
    conf_args = [arg for k, v in settings.items() for arg in ("--conf", f"{k}={v}")]
    try:
        start = subprocess.run(
            [str(CONNECT_SERVER_SCRIPT), "start", *conf_args],
            env=env, cwd=state, capture_output=True, text=True, timeout=300,
        )
        assert start.returncode == 0, start.stderr[-5000:]
        yield start.stdout.strip().splitlines()[-1]
    finally:
        # Stopped even when a test (or the start) failed: stop signals what start recorded.
        subprocess.run([str(CONNECT_SERVER_SCRIPT), "stop"], env=env, capture_output=True, timeout=120)
