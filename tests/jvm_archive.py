"""A class-data-sharing archive of the classes a Spark driver loads, for the JVMs the tests start.

A driver JVM spends seconds of CPU parsing and verifying the classes of Spark's ~250 jars before it
runs a query. A dynamic CDS archive (JDK 13+, ``-XX:ArchiveClassesAtExit``) keeps them parsed and
verified; a later JVM started with ``-XX:SharedArchiveFile`` maps them instead. Measured on this
project's 2-core machine: a CLI ``run`` of 5k rows with ``spark.quick_start`` took 21.5-24.5 s
without and 16-17 s with it (docs/development.md).

The archive is made once per virtualenv by one training run (a session with Delta, a tiny table, one
job), whose JVM writes it at exit, and is kept in that virtualenv (``share/imbalance-spark/cds``)
under a key of the Java build, pyspark and its jars' paths: another Java, pyspark or clone gets its
own. A JVM that cannot use an
archive starts without it (``-Xshare:auto``), silently (``-Xlog:cds*=off``): the archive only ever
changes how fast a test JVM starts, never what it does. Set ``IMBALANCE_SPARK_TEST_CDS=0`` to start
every JVM without one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_TRAINING = """
import sys
from imbalance_spark.flows.run import run_job
from imbalance_spark.config.load import load_config
from imbalance_spark.session import build_spark_session
from imbalance_spark.synthetic import write_demo_table
folder = sys.argv[1]
spark = build_spark_session(master="local[2]", app_name="cds-training",
                            conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"})
write_demo_table(spark, folder + "/in", rows=2000, fraud_rate=0.05, days=2, seed=1)
open(folder + "/c.yaml", "w").write(
    "dataset: cds\\ninput: {path: %s/in}\\nlabel_column: is_fraud\\nminority_classes: [1]\\n"
    "downsampling: {factor: 4}\\noutput: {path: %s/out, partition_by: [event_date]}\\n" % (folder, folder))
run_job(spark, load_config(folder + "/c.yaml"))
print(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
"""
_QUIET = "-Xshare:auto -Xlog:cds*=off"


def _key() -> str:
    """What the archive depends on: the Java build, pyspark's version and its jars, by their paths.

    The paths matter: a JVM maps the archive only if its class path is the one the archive was
    made with, so another virtualenv (another clone) needs its own.
    """
    import pyspark

    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    jars = sorted(str(p) for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar"))
    return hashlib.sha256("\n".join([java, pyspark.__version__, *jars]).encode()).hexdigest()[:16]


def _archive_dir() -> Path:
    """Inside the virtualenv whose jars it holds (it goes with it), else beside the cached Delta jars."""
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix) / "share" / "imbalance-spark" / "cds"
    from imbalance_spark.packages import jars_dir

    return jars_dir().parent.parent / "cds"


def _train(target: Path, env: dict[str, str]) -> None:
    """Run the training job in a JVM that writes its loaded classes to ``target`` when it exits."""
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="cds-training-") as folder:
        proc = subprocess.run(
            [sys.executable, "-c", _TRAINING, folder],
            env={**env, "SPARK_SUBMIT_OPTS": f"-XX:ArchiveClassesAtExit={partial} -Xlog:cds*=off"},
            capture_output=True, text=True, timeout=600,
        )
    if proc.returncode != 0 or not proc.stdout.strip().splitlines():
        return
    jvm_pid = int(proc.stdout.strip().splitlines()[-1])
    deadline = time.monotonic() + 180  # the JVM writes the archive after the Python process exits
    while time.monotonic() < deadline and Path(f"/proc/{jvm_pid}").exists():
        time.sleep(0.2)
    if partial.exists() and partial.stat().st_size > 0:
        partial.rename(target)


def java_options(env: dict[str, str]) -> str:
    """The JVM options that start a test JVM from the archive (made first if needed), or ''."""
    if os.environ.get("IMBALANCE_SPARK_TEST_CDS", "1") == "0":
        return ""
    folder = _archive_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # no writable cache: the JVMs start as they would without the tests
        return ""
    target = folder / f"spark-driver-{_key()}.jsa"
    failed = target.with_suffix(".failed")  # a training run that failed is not retried each session
    with open(folder / ".lock", "w") as lock:  # two test sessions at once make it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists() and not failed.exists():
            _train(target, env)
            if not target.exists():
                failed.touch()
    return f"-XX:SharedArchiveFile={target} {_QUIET}" if target.exists() else ""


def main() -> int:
    """Make the archive now, once per virtualenv (``make install`` runs this), so no test session pays for it."""
    repo = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "PYSPARK_PYTHON": sys.executable,
    }
    options = java_options(env)
    archive = next((o.split("=", 1)[1] for o in options.split() if o.startswith("-XX:SharedArchiveFile=")), None)
    print(f"test JVM archive: {archive}" if archive else "test JVM archive: none (test JVMs start without one)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
