"""The one SparkSession factory: Delta extension and catalog, Delta jars, quiet logs.

Library code receives ``spark`` as an argument; only entry points call :func:`build_spark_session`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from imbalance_spark.errors import ConfigError, ConnectServerError
from imbalance_spark.packages import delta_packages

log = logging.getLogger(__name__)

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


def remote_url(remote: str | None = None) -> str | None:
    """The Spark Connect URL to use: ``remote``, else the ``SPARK_REMOTE`` variable (Spark's own)."""
    return remote or os.environ.get("SPARK_REMOTE") or None


def build_spark_session(
    master: str | None = None,
    app_name: str = "imbalance-spark",
    conf: Mapping[str, str] | None = None,
    remote: str | None = None,
):
    """Build (or return the running) SparkSession configured for Delta Lake.

    ``master`` of None keeps what spark-submit set, or ``local[*]`` when run from plain Python.
    ``remote`` (or ``SPARK_REMOTE``), e.g. ``sc://127.0.0.1:15002``, connects to a Spark Connect
    server instead (see :func:`build_connect_session`).
    """
    url = remote_url(remote)
    if url is not None:
        if master:
            raise ConfigError(f"--master {master} and --remote/SPARK_REMOTE {url}: choose one")
        return build_connect_session(url, app_name, conf)
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


# Settings of a session that a Connect client may change; the rest (Delta's extension and catalog,
# the master, jars, driver options) are the server's, given when it starts: see connect_server_conf.
def _client_settable(key: str) -> bool:
    return key.startswith(("spark.sql.", "spark.databricks.delta."))


def connect_server_conf(master: str | None = None) -> dict[str, str]:
    """The factory's settings for a Spark Connect server (scripts/connect-server.sh applies them)."""
    return {**DEFAULT_CONF, **_log4j_conf(), **local_defaults(master), **DELTA_CONF}


def build_connect_session(url: str, app_name: str = "imbalance-spark", conf: Mapping[str, str] | None = None):
    """A Spark Connect session on ``url``, after checking within CONNECT_TIMEOUT_S that it answers.

    Delta's extension and catalog must be on the server; the session settings the factory would
    give a local session (UTC, Parquet timestamps, ...) are set on this session.
    """
    from pyspark.sql import SparkSession

    _check_reachable(url)
    settings = {k: v for k, v in {**DEFAULT_CONF, **dict(conf or {})}.items() if _client_settable(k)}
    builder = SparkSession.builder.remote(url).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    extensions = spark.conf.get("spark.sql.extensions", "") or ""
    if "DeltaSparkSessionExtension" not in extensions:
        log.warning(
            "the Spark Connect server at %s lists no Delta extension in spark.sql.extensions (%r);"
            " Delta look-ups fail unless the server has Delta built in (Databricks does)",
            _redact_url(url),
            extensions,
        )
    return spark


CONNECT_TIMEOUT_S = float(os.environ.get("IMBALANCE_SPARK_CONNECT_TIMEOUT_S", "20"))


def _redact_url(url: str) -> str:
    """The URL without its parameters (``;token=...``)."""
    return url.split(";", 1)[0]


def _check_reachable(url: str) -> None:
    # The client retries an unreachable server for minutes; one bounded wait gives one clear line.
    import grpc
    from pyspark.sql.connect.client import DefaultChannelBuilder

    try:
        channel = DefaultChannelBuilder(url).toChannel()
    except Exception as exc:  # a malformed URL
        raise ConfigError(f"--remote: {_redact_url(url)} is not a Spark Connect URL ({exc})") from None
    try:
        grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT_S)
    except grpc.FutureTimeoutError:
        raise ConnectServerError(
            f"--remote: no Spark Connect server answers at {_redact_url(url)} within {CONNECT_TIMEOUT_S:g} s"
        ) from None
    finally:
        channel.close()


def main(argv: list[str] | None = None) -> None:
    """Print the Connect server's settings as ``key=value`` lines (for spark-submit ``--conf``).

    Usage: ``python -m imbalance_spark.session connect-server-conf [MASTER]``.
    """
    import sys

    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "connect-server-conf":
        raise SystemExit("usage: python -m imbalance_spark.session connect-server-conf [MASTER]")
    for key, value in connect_server_conf(args[1] if len(args) > 1 else None).items():
        print(f"{key}={value}")


if __name__ == "__main__":
    main()
