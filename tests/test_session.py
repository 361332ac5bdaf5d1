"""The session factory: the cached Delta jars instead of Ivy, and the JVM's start-up noise filtered."""

from __future__ import annotations

import subprocess

import pytest

from imbalance_spark.packages import cached_jars, delta_packages_arg, jars_dir
from imbalance_spark.session import (
    _JVM_NOISE,
    LOG4J2_PROPERTIES,
    _jvm_noise_filtered,
    _log4j_conf,
    connect_server_conf,
)
from tests.conftest import REPO_ROOT

NOISE = [
    "WARNING: Using incubator modules: jdk.incubator.vector",
    ":: loading settings :: url = jar:file:/x/ivy-2.5.3.jar!/org/apache/ivy/core/settings/ivysettings.xml",
    "Ivy Default Cache set to: /root/.ivy2.5.2/cache",
    "The jars for the packages stored in: /root/.ivy2.5.2/jars",
    "io.delta#delta-spark_4.2_2.13 added as a dependency",
    ":: resolving dependencies :: org.apache.spark#spark-submit-parent-1;1.0",
    "\tconfs: [default]",
    "\tfound io.delta#delta-spark_4.2_2.13;4.4.0 in central",
    ":: resolution report :: resolve 4064ms :: artifacts dl 82ms",
    "\t:: modules in use:",
    "\tio.delta#delta-storage;4.4.0 from central in [default]",
    "\torg.slf4j#slf4j-api;2.0.17 by [org.slf4j#slf4j-api;2.0.13] in [default]",
    "\t---------------------------------------------------------------------",
    "\t|      default     |   37  |   0   |   0   |   4   ||   33  |   0   |",
    ":: retrieving :: org.apache.spark#spark-submit-parent-1",
    "\t0 artifacts copied, 33 already retrieved (0kB/82ms)",
]
KEPT = [
    ":: problems summary ::",
    "\t\tmodule not found: io.delta#delta-spark_4.2_2.13;9.9.9",
    "\t::          UNRESOLVED DEPENDENCIES         ::",
    'Exception in thread "main" java.lang.RuntimeException: [unresolved dependency: io.delta#x;9: not found]',
    "26/11/29 07:30:25 ERROR SparkContext: Error initializing SparkContext.",
    "java.io.FileNotFoundException: File file:/r/dist/imbalance_spark.zip does not exist",
]


def test_the_quiet_log4j2_file_is_conf_folders_and_reaches_both_jvm_sides():
    # found through the package (here a clone that is not installed; tests/test_wheel.py: a wheel)
    assert LOG4J2_PROPERTIES.is_file()
    assert LOG4J2_PROPERTIES.read_text() == (REPO_ROOT / "conf" / "log4j2.properties").read_text()
    option = f"-Dlog4j2.configurationFile=file:{LOG4J2_PROPERTIES}"
    assert _log4j_conf() == {"spark.driver.extraJavaOptions": option, "spark.executor.extraJavaOptions": option}
    assert connect_server_conf()["spark.driver.extraJavaOptions"] == option


def test_noise_is_recognized_and_problems_are_not():
    assert [line for line in NOISE if not _JVM_NOISE.match(line.encode())] == []
    assert [line for line in KEPT if _JVM_NOISE.match(line.encode())] == []


def test_a_process_started_in_the_block_has_its_noise_filtered(capfd):
    lines = "\n".join([NOISE[0], KEPT[-1], NOISE[7]])
    with _jvm_noise_filtered():
        subprocess.run(["sh", "-c", f"printf '%s\\n' '{lines}' >&2"], check=True)
    subprocess.run(["sh", "-c", "echo after >&2"], check=True)
    import time

    time.sleep(0.5)  # the pump thread forwards asynchronously
    err = capfd.readouterr().err
    assert KEPT[-1] in err and "after" in err
    assert "incubator" not in err and "found io.delta" not in err


def test_the_session_uses_the_cached_jars_when_there_are_some(spark, tmp_path):
    conf = spark.sparkContext.getConf()
    if cached_jars():
        assert str(jars_dir()) in conf.get("spark.jars", "")
        assert conf.get("spark.jars.packages", None) is None
    else:
        assert conf.get("spark.jars.packages") == delta_packages_arg()
    # either way the Delta classes are there
    spark.range(3).write.format("delta").save(str(tmp_path / "t"))
    assert spark.read.format("delta").load(str(tmp_path / "t")).count() == 3


@pytest.mark.slow
def test_spark_section_reaches_the_jvm_the_cli_starts(spark, tmp_path):
    """`spark.quick_start` and `spark.conf` from a dataset YAML: the driver JVM the CLI starts has them."""
    import json
    import sys
    import textwrap

    from tests.conftest import cli_env

    # A few rows of plain parquet: the CLI's JVM only has to start and profile something.
    tiny = str(tmp_path / "tiny")
    spark.range(200).selectExpr("id", "cast(id % 10 = 0 as int) as is_fraud").write.parquet(tiny)
    cfg = tmp_path / "quick.yaml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            dataset: quick
            input: {{path: {tiny}, format: parquet}}
            label_column: is_fraud
            downsampling: {{factor: 5, seed: 1}}
            output: {{path: {tmp_path / "out"}}}
            spark:
              quick_start: true
              conf: {{spark.sql.shuffle.partitions: 3, spark.imbalance_spark.test: true}}
            """
        )
    )
    script = textwrap.dedent(
        f"""
        import json, sys
        from pyspark import SparkContext
        import imbalance_spark.session as session
        from imbalance_spark.cli import main
        seen, build = {{}}, session.build_spark_session
        def recording(*a, **kw):
            spark = build(*a, **kw)
            seen.update(partitions=spark.conf.get("spark.sql.shuffle.partitions"),
                        test=spark.conf.get("spark.imbalance_spark.test"))
            return spark
        session.build_spark_session = recording
        code = main(["profile", "--config", {str(cfg)!r}, "--master", "local[1]", "--json"])
        jvm = SparkContext._gateway.jvm
        args = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
        sys.stderr.write("RESULT " + json.dumps({{"code": code, "args": args, **seen}}) + "\\n")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=cli_env(), timeout=300)
    line = next((x for x in proc.stderr.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, proc.stderr[-2000:]
    result = json.loads(line[len("RESULT "):])
    assert result["code"] == 0
    assert "-XX:TieredStopAtLevel=1" in result["args"]
    # the project's log4j file is still given (quick_start adds to the driver's options)
    assert f"-Dlog4j2.configurationFile=file:{LOG4J2_PROPERTIES}" in result["args"]
    # the dataset's conf reached the session, and wins over the job's local default (2 x cores)
    assert (result["partitions"], result["test"]) == ("3", "true")
