"""The one SparkSession factory: Delta extension and catalog, Delta jars, quiet logs.

Library code receives ``spark`` as an argument; only entry points call :func:`build_spark_session`.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from imbalance_spark.errors import ConfigError, ConnectServerError
from imbalance_spark.packages import LOG4J2_FILE, cached_jars_arg, conf_file, delta_packages

log = logging.getLogger(__name__)

# The quiet log4j2 file, conf/log4j2.properties, as the package carries it (a path: the JVM reads it).
LOG4J2_PROPERTIES = conf_file(LOG4J2_FILE)

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


# The JVM option of `spark.quick_start`: the client compiler (C1) only, no C2 (see SparkConfig).
QUICK_START_JAVA_OPTION = "-XX:TieredStopAtLevel=1"
_DRIVER_JAVA_OPTIONS = "spark.driver.extraJavaOptions"


def with_quick_start(settings: Mapping[str, str]) -> dict[str, str]:
    """``settings`` with :data:`QUICK_START_JAVA_OPTION` added to the driver's JVM options (kept)."""
    options = [settings.get(_DRIVER_JAVA_OPTIONS), QUICK_START_JAVA_OPTION]
    return {**settings, _DRIVER_JAVA_OPTIONS: " ".join(filter(None, options))}


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


# What a JVM launched from Python prints on stderr at every start and that tells the user nothing:
# the JDK's notice about the jdk.incubator.vector module, which Spark's launcher always adds
# (JavaModuleOptions, for MLlib's vectorized BLAS) and which no JVM flag silences; and Ivy's
# resolution report when the Delta jars are not cached. Problems (Ivy's UNRESOLVED report,
# exceptions) do not match and pass through.
_JVM_NOISE = re.compile(
    rb"^(WARNING: Using incubator modules: "
    rb"|:: loading settings :: |Ivy Default Cache set to: |The jars for the packages stored in: "
    rb"|\S+#\S+ added as a dependency"
    rb"|:: (resolving dependencies|resolution report|retrieving) :: "
    rb"|\t(confs: |found \S+ in |downloading |\[SUCCESSFUL \]|:: (modules in use|evicted modules):"
    rb"|\S+#\S+ (from|by) |-{20}|\||\d+ artifacts copied)"
    # MLlib's native BLAS/LAPACK (dev.ludovic.netlib) prints this to stderr when the system has no
    # libblas.so.3; MLlib then uses its Java implementation, as it should
    rb"|netlib-(blas|lapack|arpack): JNI_OnLoad: dlopen\()"
)


def _pump(src_fd: int, dst_fd: int) -> None:
    with os.fdopen(src_fd, "rb") as src, os.fdopen(dst_fd, "wb", buffering=0) as dst:
        for line in src:
            if not _JVM_NOISE.match(line):
                try:
                    dst.write(line)
                except OSError:
                    return


@contextmanager
def _jvm_noise_filtered() -> Iterator[None]:
    """Give processes started in the block a stderr that drops :data:`_JVM_NOISE` lines.

    The JVM that pyspark launches inherits file descriptor 2; it keeps the filtered pipe for its
    whole life, while this process gets its own stderr back when the block ends.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read_end, write_end = os.pipe()
    except (OSError, ValueError):
        yield
        return
    threading.Thread(target=_pump, args=(read_end, os.dup(saved)), name="jvm-stderr", daemon=True).start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


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
    verbose: bool = False,
    remote: str | None = None,
    quick_start: bool = False,
):
    """Build (or return the running) SparkSession configured for Delta Lake.

    ``master`` of None keeps what spark-submit set, or ``local[*]`` when run from plain Python.
    ``verbose`` keeps Spark's own INFO logs and everything the JVM prints at start.
    ``remote`` (or ``SPARK_REMOTE``), e.g. ``sc://127.0.0.1:15002``, connects to a Spark Connect
    server instead (see :func:`build_connect_session`).
    ``quick_start`` starts the driver JVM with :data:`QUICK_START_JAVA_OPTION` (``spark.quick_start``).
    """
    url = remote_url(remote)
    if url is not None:
        if master:
            raise ConfigError(f"--master {master} and --remote/SPARK_REMOTE {url}: choose one")
        return build_connect_session(url, app_name, conf)
    from pyspark.sql import SparkSession

    under_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    if master is None and not under_submit:
        # Plain `python`/console script: no spark-submit has chosen a master.
        master = "local[*]"
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    if master and master.startswith("local"):
        # A local master's Python workers run on this machine: the driver's interpreter has the
        # packages (xgboost.spark's pandas UDFs); Spark's default is whichever `python3` is on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    submitted = _submitted_conf()
    jars = None if under_submit else cached_jars_arg()
    settings = _session_settings(master, submitted, conf, verbose, quick_start, under_submit, jars)
    for key, value in settings.items():
        builder = builder.config(key, value)
    if not jars:
        builder = _with_ivy_packages(builder, under_submit)
    if verbose or under_submit:
        spark = builder.getOrCreate()
    else:
        with _jvm_noise_filtered():
            spark = builder.getOrCreate()
    if under_submit and not verbose and not _log4j_configured(submitted):
        # spark-submit without the project's log4j2 file logs every task at INFO; the public
        # setLogLevel keeps what follows to warnings (the start-up lines are already printed).
        spark.sparkContext.setLogLevel("WARN")
    return spark


def _session_settings(
    master: str | None,
    submitted: Mapping[str, str],
    conf: Mapping[str, str] | None,
    verbose: bool,
    quick_start: bool,
    under_submit: bool,
    jars: str | None,
) -> dict[str, str]:
    """The session's settings: our defaults (what spark-submit --conf set wins), Delta's, the caller's."""
    quiet_logs = {} if verbose else _log4j_conf()
    defaults = {**DEFAULT_CONF, **quiet_logs, **local_defaults(master or submitted.get("spark.master"))}
    defaults = {k: v for k, v in defaults.items() if k not in submitted}
    settings = {**defaults, **DELTA_CONF, **dict(conf or {})}
    if quick_start:
        if under_submit and QUICK_START_JAVA_OPTION not in submitted.get(_DRIVER_JAVA_OPTIONS, ""):
            log.warning(
                "spark.quick_start: the driver JVM already runs (spark-submit); pass"
                " --driver-java-options %s to spark-submit instead",
                QUICK_START_JAVA_OPTION,
            )
        settings = with_quick_start(settings)
    if jars:
        # Fetched once by `imbalance-spark packages --fetch` (make install): no Ivy resolution.
        settings["spark.jars"] = ",".join(filter(None, [settings.get("spark.jars"), jars]))
    return settings


def _with_ivy_packages(builder, under_submit: bool):
    """The builder with Delta's Maven packages for Ivy to resolve (no cached jars)."""
    from delta import configure_spark_with_delta_pip

    # Under spark-submit --packages/--jars the jars are already on the classpath and this is a
    # no-op; from plain Python it makes Spark's Ivy resolve the Delta jars at every start.
    if not under_submit:
        log.info("resolving the Delta jars with Ivy (`imbalance-spark packages --fetch` caches them once)")
    return configure_spark_with_delta_pip(builder, extra_packages=delta_packages()[1:])


def _log4j_configured(submitted: Mapping[str, str]) -> bool:
    """Whether the driver was given a log4j2 configuration (an option, or SPARK_CONF_DIR's file)."""
    if "log4j2.configurationFile" in submitted.get("spark.driver.extraJavaOptions", ""):
        return True
    conf_dir = os.environ.get("SPARK_CONF_DIR")
    return bool(conf_dir) and (Path(conf_dir) / "log4j2.properties").exists()


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
    _require_connect_client(url)
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


# What a user without the Connect client is told to install (pyproject.toml's `connect` extra).
CONNECT_INSTALL = "pip install 'imbalance-spark[connect]' (from a clone: pip install -e '.[connect]')"


def _require_connect_client(url: str) -> None:
    """Import the Spark Connect client (grpc, and pyspark's own check of its dependencies), or one line."""
    try:
        import grpc  # noqa: F401
        import pyspark.sql.connect.client  # noqa: F401
    except ImportError as exc:
        cause = " ".join(str(exc).split())
        raise ConnectServerError(
            f"--remote {_redact_url(url)}: the Spark Connect client is not installed ({cause}); {CONNECT_INSTALL}"
        ) from None


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
