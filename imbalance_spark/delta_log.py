"""What a Delta table's log says (exists, latest version, detail, properties), asked in SQL.

``DESCRIBE HISTORY``/``DESCRIBE DETAIL`` answer the same in a classic and a Spark Connect session,
where ``delta.tables.DeltaTable`` needs a classic one; each function here is one look-up of the log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

# What Delta and Spark answer when a path or name holds no Delta table (or nothing at all).
NOT_A_DELTA_TABLE = frozenset(
    {
        "DELTA_MISSING_DELTA_TABLE",
        "DELTA_TABLE_NOT_FOUND",
        "DELTA_PATH_DOES_NOT_EXIST",
        "TABLE_OR_VIEW_NOT_FOUND",
        "PATH_NOT_FOUND",
        "DELTA_UNSUPPORTED_DESCRIBE_DETAIL_VIEW",
        "DELTA_TABLE_ONLY_OPERATION",
        "DELTA_ONLY_OPERATION",
    }
)


def is_connect(spark: SparkSession) -> bool:
    """Whether ``spark`` is a Spark Connect session (the driver, and its disk, may be elsewhere)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def error_condition(exc: BaseException) -> str | None:
    """The error condition (class) of a Spark error, classic or Connect, e.g. ``PATH_NOT_FOUND``."""
    getter = getattr(exc, "getCondition", None) or getattr(exc, "getErrorClass", None)
    try:
        return getter() if getter is not None else None
    except Exception:  # an error built without a condition
        return None


def delta_ref(path: str | None = None, table: str | None = None) -> str:
    """The SQL name of a table given by catalog name or by path (``delta.`path```)."""
    if table is not None:
        return table
    return "delta.`" + str(path).replace("`", "``") + "`"


@dataclass(frozen=True)
class TableDetail:
    """What ``DESCRIBE DETAIL`` says of a Delta table."""

    location: str
    partition_columns: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)


def _not_delta(exc: AnalysisException) -> bool:
    return error_condition(exc) in NOT_A_DELTA_TABLE


def table_detail(spark: SparkSession, ref: str) -> TableDetail | None:
    """``DESCRIBE DETAIL`` of ``ref``, or None when it is no Delta table (or does not exist)."""
    try:
        row = spark.sql(f"DESCRIBE DETAIL {ref}").select("format", "location", "partitionColumns", "properties").first()
    except AnalysisException as exc:
        if _not_delta(exc):
            return None
        raise
    if row is None or (row["format"] or "").lower() != "delta":
        return None
    return TableDetail(
        location=row["location"],
        partition_columns=list(row["partitionColumns"] or []),
        properties=dict(row["properties"] or {}),
    )


def latest_version(spark: SparkSession, ref: str) -> int | None:
    """The table's latest commit version (one ``DESCRIBE HISTORY ... LIMIT 1``), or None if not Delta."""
    try:
        row = spark.sql(f"DESCRIBE HISTORY {ref} LIMIT 1").select("version").first()
    except AnalysisException as exc:
        if _not_delta(exc):
            return None
        raise
    return None if row is None else int(row[0])


def version_at(spark: SparkSession, ref: str, timestamp: dt.datetime) -> int | None:
    """The latest version committed at or before ``timestamp`` (None: the table is younger)."""
    history = spark.sql(f"DESCRIBE HISTORY {ref}")
    row = history.filter(F.col("timestamp") <= F.lit(timestamp)).agg(F.max("version")).first()
    return None if row is None or row[0] is None else int(row[0])
