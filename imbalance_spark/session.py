"""The one SparkSession factory: Delta extension and catalog, Delta jars, quiet logs.

Library code receives ``spark`` as an argument; only entry points call :func:`build_spark_session`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from imbalance_spark.packages import delta_packages

LOG4J2_PROPERTIES = Path(__file__).resolve().parent.parent / "conf" / "log4j2.properties"

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

DEFAULT_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
    # Delta's own writer decides file layout; keep shuffles small on laptops by default.
    "spark.sql.adaptive.enabled": "true",
    # Parquet's standard timestamp encoding; Spark's default (INT96) is deprecated and slower to write.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}


def local_defaults(master: str | None) -> dict[str, str]:
    """Defaults for a one-machine master: small shuffles and Delta log replays.

    The job's only shuffles are per-class aggregates (one row per class), and Delta's default of
    50 partitions for replaying the log costs seconds on a laptop; on a cluster both keep Spark's
    defaults.
    """
    if not master or not master.startswith("local"):
        return {}
    cores = os.cpu_count() or 2
    return {
        "spark.sql.shuffle.partitions": str(max(2, 2 * cores)),
        "spark.databricks.delta.snapshotPartitions": str(max(1, cores)),
    }


def _log4j_conf() -> dict[str, str]:
    if not LOG4J2_PROPERTIES.exists():
        return {}
    opt = f"-Dlog4j2.configurationFile=file:{LOG4J2_PROPERTIES}"
    return {"spark.driver.extraJavaOptions": opt, "spark.executor.extraJavaOptions": opt}


def _submitted_conf() -> dict[str, str]:
    """The settings spark-submit passed (empty when run from plain Python: no JVM yet)."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return {}
    from pyspark import SparkConf
    from pyspark.core.context import SparkContext

    SparkContext._ensure_initialized()  # connects to spark-submit's JVM; launches nothing
    return dict(SparkConf().getAll())


def build_spark_session(
    master: str | None = None,
    app_name: str = "imbalance-spark",
    conf: Mapping[str, str] | None = None,
):
    """Build (or return the running) SparkSession configured for Delta Lake.

    ``master`` of None keeps what spark-submit set, or ``local[*]`` when run from plain Python.
    """
    from delta import configure_spark_with_delta_pip
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master is None and "PYSPARK_GATEWAY_PORT" not in os.environ:
        # Plain `python`/console script: no spark-submit has chosen a master.
        master = "local[*]"
    if master:
        builder = builder.master(master)
    submitted = _submitted_conf()
    # What spark-submit --conf set wins over our defaults.
    defaults = {**DEFAULT_CONF, **_log4j_conf(), **local_defaults(master or submitted.get("spark.master"))}
    defaults = {k: v for k, v in defaults.items() if k not in submitted}
    settings = {**defaults, **DELTA_CONF, **dict(conf or {})}
    for key, value in settings.items():
        builder = builder.config(key, value)
    # Under spark-submit --packages the jars are already on the classpath and this is a no-op;
    # from plain Python it makes Spark's Ivy fetch (and cache) the Delta jars on first use.
    builder = configure_spark_with_delta_pip(builder, extra_packages=delta_packages()[1:])
    return builder.getOrCreate()
