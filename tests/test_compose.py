"""docker-compose.yml, checked without a Docker engine: services and commands, the image tag
against the installed pyspark, the Delta coordinates against imbalance_spark/packages.py,
loopback-only ports and bind mounts that exist.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pyspark
import pytest
import yaml

from imbalance_spark.packages import SCALA_VERSION, delta_packages

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
SPARK_IMAGE = re.compile(r"^apache/spark:(?P<spark>\d+\.\d+\.\d+)-scala(?P<scala>[\d.]+)-")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def command_text(service: dict) -> str:
    command = service.get("command", "")
    return command if isinstance(command, str) else " ".join(str(c) for c in command)


def test_services_form_a_cluster_with_a_one_shot_submit_and_an_airflow_profile(compose):
    services = compose["services"]

    assert {"master", "worker", "submit", "airflow"} <= set(services)
    assert "org.apache.spark.deploy.master.Master" in command_text(services["master"])
    worker = services["worker"]
    assert "org.apache.spark.deploy.worker.Worker" in command_text(worker)
    assert "spark://master:7077" in command_text(worker)
    # `docker compose up --scale worker=N` needs workers without fixed names or host ports.
    assert "container_name" not in worker and "ports" not in worker
    assert services["submit"]["profiles"] == ["submit"]
    assert services["airflow"]["profiles"] == ["airflow"]
    for name in ("master", "worker"):
        assert "profiles" not in services[name], f"{name} must start with a plain `up`"


def test_submit_runs_the_demo_job_against_the_cluster(compose):
    submit = compose["services"]["submit"]
    script = command_text(submit)
    environment = submit["environment"]

    assert environment["SPARK_MASTER_URL"] == "spark://master:7077"
    assert "spark-submit" in script and '--master "$$SPARK_MASTER_URL"' in script
    # The coordinates come from imbalance_spark/packages.py at run time, never a copy.
    assert '--packages "$$(imbalance-spark packages)"' in script
    assert "--py-files /tmp/imbalance_spark.zip" in script
    job = re.search(r"(jobs/\S+\.py) --config (\S+)", script)
    assert job, script
    assert (REPO_ROOT / job.group(1)).is_file()
    assert (REPO_ROOT / job.group(2)).is_file()
    assert submit["working_dir"] == "/opt/imbalance-spark"


def test_spark_image_matches_the_installed_pyspark(compose):
    images = {name: s["image"] for name, s in compose["services"].items()}

    for name, image in images.items():
        match = SPARK_IMAGE.match(image)
        assert match, f"{name}: {image} is not an official apache/spark image with a full tag"
        assert match["spark"] == pyspark.__version__, f"{name}: {image}"
        assert match["scala"] == SCALA_VERSION, f"{name}: {image}"
        assert "python3" in image, f"{name}: executors need the python3 image variant"


def test_any_delta_coordinates_written_in_the_file_match_packages_py():
    written = set(re.findall(r"io\.delta:[\w.\-]+:[\w.\-]+", COMPOSE_FILE.read_text()))

    assert written <= set(delta_packages())


def test_every_published_port_is_bound_to_loopback(compose):
    published = []
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                host_ip = port.get("host_ip")
            else:
                # HOST_IP:HOST_PORT:CONTAINER_PORT; any shorter form listens on every interface.
                parts = str(port).split(":")
                host_ip = parts[0] if len(parts) == 3 else None
            published.append((name, host_ip, port))

    assert published, "the master UI and Airflow should be reachable from the host"
    for name, host_ip, port in published:
        assert host_ip == "127.0.0.1", f"{name}: {port} is not bound to 127.0.0.1"


def test_bind_mounts_exist_and_share_one_path_in_all_containers(compose):
    named_volumes = set(compose.get("volumes") or {})
    targets = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            if isinstance(volume, str):
                source, target = volume.split(":")[:2]
                kind = "bind" if source.startswith((".", "/")) else "volume"
            else:
                source, target, kind = volume["source"], volume["target"], volume["type"]
            if kind == "bind":
                assert (REPO_ROOT / source).exists(), f"{name}: {source} does not exist"
                targets.add(target)
            else:
                assert source in named_volumes, f"{name}: volume {source} is not declared"
    # Executors write the Delta files at the paths the driver resolved: one mount point for all.
    assert targets == {"/opt/imbalance-spark"}
    for name in ("worker", "submit", "airflow"):
        assert any(
            (v if isinstance(v, str) else v["target"]).endswith("/opt/imbalance-spark")
            for v in compose["services"][name]["volumes"]
        ), name


def test_airflow_profile_points_at_the_dags_and_the_cluster(compose):
    airflow = compose["services"]["airflow"]
    environment = airflow["environment"]

    assert (REPO_ROOT / "jobs" / "dags").is_dir()
    assert environment["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/imbalance-spark/jobs/dags"
    assert '"spark://master"' in environment["AIRFLOW_CONN_SPARK_DEFAULT"]
    assert '".[airflow]"' in command_text(airflow)


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="needs the docker compose CLI plugin (no engine needed)",
)
def test_docker_compose_accepts_the_file():
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "--profile", "submit", "--profile",
         "airflow", "config", "--quiet"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
