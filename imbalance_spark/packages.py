"""The one source of truth for the Delta Lake Maven coordinates.

Derived from the installed pyspark and delta-spark, exactly as
``delta.configure_spark_with_delta_pip`` does; spark-submit, the DAG and docker-compose reuse it.
"""

from __future__ import annotations

from importlib.metadata import version

SCALA_VERSION = "2.13"


def spark_version() -> str:
    """The installed pyspark version, e.g. ``4.2.0``."""
    import pyspark

    return pyspark.__version__


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


def main() -> None:
    """Print the ``--packages`` value (used by scripts and docker-compose)."""
    print(delta_packages_arg())


if __name__ == "__main__":
    main()
