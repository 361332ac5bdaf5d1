"""What travels with the job: the Delta Lake coordinates and their cached jars, the package's conf files, its zip.

Coordinates are derived from the installed pyspark and delta-spark, exactly as
``delta.configure_spark_with_delta_pip`` does; spark-submit, the DAG and docker-compose reuse them.
``fetch_jars`` resolves them once (Spark's own Ivy) into a cache folder that the session factory
passes as ``spark.jars``, so that no Spark command resolves (and prints) them again.
``conf_file`` finds the files of ``conf/`` that travel in the package as ``imbalance_spark.conf``
(importlib.resources: a wheel, an editable install, a zip); ``write_py_files_zip`` builds the zip
for ``spark-submit --py-files`` (``make zip``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import resources
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

SCALA_VERSION = "2.13"
# Written last by fetch_jars: a folder without it is an interrupted fetch and is not used.
MANIFEST = "jars.txt"


def spark_version() -> str:
    """The installed pyspark version, e.g. ``4.2.0``."""
    return version("pyspark")


def delta_version() -> str:
    """The installed delta-spark version, e.g. ``4.4.0``."""
    return version("delta-spark")


def delta_packages() -> list[str]:
    """Maven coordinates of the Delta jars matching the installed pyspark/delta-spark pair."""
    spark_major_minor = ".".join(spark_version().split(".")[:2])
    return [f"io.delta:delta-spark_{spark_major_minor}_{SCALA_VERSION}:{delta_version()}"]


def delta_packages_arg() -> str:
    """The value for spark-submit's ``--packages``."""
    return ",".join(delta_packages())


def jars_dir() -> Path:
    """Where the resolved jars of the current coordinates are cached.

    ``$IMBALANCE_SPARK_JARS_DIR`` if set, else ``$XDG_CACHE_HOME/imbalance-spark/jars`` (default
    ``~/.cache``); one sub-folder per coordinate set, so a version bump never reuses stale jars.
    """
    root = os.environ.get("IMBALANCE_SPARK_JARS_DIR") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    ) / "imbalance-spark" / "jars"
    name = "+".join(c.replace(":", "_") for c in delta_packages())
    return Path(root).expanduser() / name


def cached_jars() -> list[Path] | None:
    """The cached jars of the current coordinates, or None when they were not fetched (completely)."""
    folder = jars_dir()
    try:
        names = (folder / MANIFEST).read_text().split()
    except OSError:
        return None
    jars = [folder / n for n in names]
    return jars if jars and all(j.is_file() for j in jars) else None


def cached_jars_arg() -> str | None:
    """The value for spark-submit's ``--jars`` (or ``spark.jars``), or None when not fetched."""
    jars = cached_jars()
    return ",".join(str(j) for j in jars) if jars else None


# Runs in a child process: a bare JVM gateway (no SparkContext) started with --packages, whose
# spark-submit resolves the coordinates through Ivy and records the local jar paths in spark.jars.
_RESOLVE = """
from pyspark.java_gateway import launch_gateway
gateway = launch_gateway()
print("SPARK_JARS=" + (gateway.jvm.java.lang.System.getProperty("spark.jars") or ""))
gateway.shutdown()
"""


def fetch_jars(force: bool = False) -> list[Path]:
    """Resolve the Delta coordinates once with Spark's Ivy and copy the jars into :func:`jars_dir`."""
    if not force and (jars := cached_jars()):
        return jars
    env = {**os.environ, "PYSPARK_SUBMIT_ARGS": f"--packages {delta_packages_arg()} pyspark-shell"}
    result = subprocess.run([sys.executable, "-c", _RESOLVE], env=env, capture_output=True, text=True)
    listed = [line[len("SPARK_JARS=") :] for line in result.stdout.splitlines() if line.startswith("SPARK_JARS=")]
    if result.returncode != 0 or not listed or not listed[0]:
        lines = [ln for ln in (result.stderr + result.stdout).splitlines() if ln.strip()]
        cause = next((ln for ln in lines if "unresolved dependency" in ln or "Exception" in ln), None)
        raise RuntimeError(
            f"could not resolve {delta_packages_arg()} from Maven Central: "
            + (cause or (lines[-1] if lines else f"exit code {result.returncode}")).strip()
        )
    sources = [Path(unquote(urlparse(uri).path)) for uri in listed[0].split(",") if uri]
    folder = jars_dir()
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        for src in sources:
            shutil.copy2(src, staging / src.name)
        (staging / MANIFEST).write_text("\n".join(src.name for src in sources) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        try:
            staging.rename(folder)
        except OSError:
            if cached_jars() is None:  # not another process's complete fetch that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return cached_jars() or []


# The files of conf/ that the package carries as `imbalance_spark.conf`: pyproject.toml maps the
# folder into the package ([tool.setuptools] package-dir, package-data lists the same files).
LOG4J2_FILE = "log4j2.properties"
DEMO_CONFIG_FILE = "datasets/demo_fraud.yaml"
PACKAGE_CONF_FILES = ("__init__.py", LOG4J2_FILE, DEMO_CONFIG_FILE)

# Files extracted from a zipped package (as_file) stay on disk until the process exits.
_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


def conf_dir() -> Traversable:
    """The package's conf folder (a wheel, an editable install, a zip), else the clone's ``conf/``."""
    try:
        return resources.files("imbalance_spark.conf")
    except ModuleNotFoundError:  # imported from a clone that is not installed (its root on sys.path)
        return Path(__file__).resolve().parent.parent / "conf"


def conf_file(name: str) -> Path:
    """A file of the conf folder (``name`` relative to it) as a path on disk, e.g. for the JVM.

    A zipped package's copy is extracted for the life of the process; a missing file is returned
    as the path it would have, so that the caller's message names it.
    """
    resource = conf_dir().joinpath(*name.split("/"))
    if isinstance(resource, Path):
        return resource
    if not resource.is_file():
        return Path(str(resource))
    return _extracted.enter_context(resources.as_file(resource))


def write_py_files_zip(dest: Path) -> Path:
    """Zip the package, with its conf files, for ``spark-submit --py-files`` (what the wheel holds)."""
    package = Path(__file__).resolve().parent
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(package.rglob("*")):
            if path.is_file() and path.suffix in (".py", ".typed") and "__pycache__" not in path.parts:
                zf.write(path, Path("imbalance_spark") / path.relative_to(package))
        conf = conf_dir()
        for name in PACKAGE_CONF_FILES:
            zf.writestr(f"imbalance_spark/conf/{name}", conf.joinpath(*name.split("/")).read_bytes())
    return dest


def main(argv: list[str] | None = None) -> None:
    """Print the ``--packages`` value (scripts, docker-compose); ``zip PATH`` writes the --py-files zip."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["zip"] and len(args) == 2:
        print(write_py_files_zip(Path(args[1])))
    elif args:
        raise SystemExit("usage: python -m imbalance_spark.packages [zip PATH]")
    else:
        print(delta_packages_arg())


if __name__ == "__main__":
    main()
