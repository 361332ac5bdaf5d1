"""The package works outside a clone: the wheel and the --py-files zip carry conf/'s two files.

The wheel is built from a copy of the sources with the venv's own setuptools (no network), installed
into a folder with ``pip install --target``, and used from a folder outside the repo.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from imbalance_spark.packages import PACKAGE_CONF_FILES
from tests.conftest import REPO_ROOT

# Run from outside the repo: where every module came from, and the conf files the library finds.
PROBE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    import imbalance_spark
    from imbalance_spark.cli import DEMO_CONFIG
    from imbalance_spark.config.load import load_config
    from imbalance_spark.packages import conf_file
    from imbalance_spark.session import LOG4J2_PROPERTIES

    modules = {}
    for info in pkgutil.walk_packages(imbalance_spark.__path__, "imbalance_spark."):
        module = importlib.import_module(info.name)
        modules[info.name] = getattr(module, "__file__", None) or str(list(module.__path__))
    print(json.dumps({
        "package": imbalance_spark.__file__,
        "modules": modules,
        "log4j2": str(LOG4J2_PROPERTIES),
        "log4j2_text": LOG4J2_PROPERTIES.read_text(),
        "demo": str(DEMO_CONFIG),
        "demo_text": DEMO_CONFIG.read_text(),
        "demo_dataset": load_config(DEMO_CONFIG).dataset,
        "conf_file": str(conf_file("log4j2.properties")),
    }))
    """
)


def _source_packages() -> set[str]:
    """Every package of the source tree: imbalance_spark's folders with an __init__.py, and conf/."""
    found = {
        ".".join(init.parent.relative_to(REPO_ROOT).parts)
        for init in (REPO_ROOT / "imbalance_spark").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    return found | {"imbalance_spark.conf"}


def _probe(pythonpath: Path, cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    env["PYTHONPATH"] = str(pythonpath)
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _assert_found_through_the_package(found: dict, root: str) -> None:
    assert found["package"].startswith(root), found["package"]
    elsewhere = {name: f for name, f in found["modules"].items() if not f.startswith(root) and root not in f}
    assert not elsewhere, f"imported from outside {root}: {elsewhere}"
    assert {"imbalance_spark.cli", "imbalance_spark.session", "imbalance_spark.flows.run"} <= set(found["modules"])
    assert found["log4j2_text"] == (REPO_ROOT / "conf" / "log4j2.properties").read_text()
    assert found["demo_text"] == (REPO_ROOT / "conf" / "datasets" / "demo_fraud.yaml").read_text()
    assert found["demo_dataset"] == "demo_fraud"
    assert not found["log4j2"].startswith(str(REPO_ROOT)) and not found["demo"].startswith(str(REPO_ROOT))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources (the build writes build/ and egg-info beside them)."""
    assert int(version("setuptools").split(".")[0]) >= 77, (
        f"setuptools {version('setuptools')} cannot build this pyproject.toml ([build-system] needs >= 77):"
        " pip install -e '.[dev]' brings it"
    )
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, src / name)
    for name in ("imbalance_spark", "conf"):
        shutil.copytree(REPO_ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-w", str(dist), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    (built,) = dist.glob("imbalance_spark-*.whl")
    return built


def test_the_wheel_holds_every_package_and_only_the_demo_config(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    packages = {"/".join(n.split("/")[:-1]).replace("/", ".") for n in names if n.endswith("/__init__.py")}
    assert packages == _source_packages(), "pyproject.toml's [tool.setuptools] packages list is out of date"
    conf = sorted(n.removeprefix("imbalance_spark/conf/") for n in names if n.startswith("imbalance_spark/conf/"))
    assert conf == sorted(PACKAGE_CONF_FILES)


def test_an_installed_wheel_finds_its_conf_files_outside_the_repo(wheel, tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--disable-pip-version-check",
         "--quiet", "--target", str(site), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    found = _probe(site, cwd=elsewhere)
    _assert_found_through_the_package(found, str(site))
    assert found["log4j2"] == str(site / "imbalance_spark" / "conf" / "log4j2.properties")
    assert found["demo"] == str(site / "imbalance_spark" / "conf" / "datasets" / "demo_fraud.yaml")


def test_the_py_files_zip_carries_the_conf_files_too(tmp_path):
    zip_path = tmp_path / "dist" / "imbalance_spark.zip"
    # the command `make zip` runs
    subprocess.run([sys.executable, "-m", "imbalance_spark.packages", "zip", str(zip_path)],
                   cwd=REPO_ROOT, check=True, capture_output=True, timeout=60)
    names = zipfile.ZipFile(zip_path).namelist()
    assert "imbalance_spark/cli/commands.py" in names and not any("__pycache__" in n for n in names)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    found = _probe(zip_path, cwd=elsewhere)
    # zipimport: modules are read from the zip; the JVM's log4j2 file is extracted to a real file
    _assert_found_through_the_package(found, str(zip_path))
    assert Path(found["conf_file"]).name.endswith("log4j2.properties")
