"""Delta look-ups through SQL and the log's files: versions, details, errors.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from imbalance_spark.common.names import backtick

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


def sees_driver_disk(spark: SparkSession, path: str) -> bool:
    """Whether ``path`` is on a disk this process shares with the driver: a local path, classic session.

    Over Spark Connect the driver is the server, whose files the client may not see; there the
    server answers (Delta's log, Spark's PATH_NOT_FOUND) and the local checks are skipped.
    """
    return "://" not in path and not is_connect(spark)


def delta_ref(path: str | None = None, table: str | None = None) -> str:
    """The SQL name of a table given by catalog name or by path (``delta.`path```)."""
    if table is not None:
        return table
    return "delta." + backtick(str(path))


@dataclass(frozen=True)
class TableDetail:
    """A Delta table's location, partition columns and properties (from its metadata, see :func:`table_detail`)."""

    location: str
    partition_columns: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)


def _not_delta(exc: AnalysisException) -> bool:
    return error_condition(exc) in NOT_A_DELTA_TABLE


def table_detail(spark: SparkSession, ref: str) -> TableDetail | None:
    """Partitioning and properties of the Delta table ``ref``, or None when it is none (or absent).

    ``DESCRIBE TABLE EXTENDED`` and ``SHOW TBLPROPERTIES`` read the table's metadata only;
    ``DESCRIBE DETAIL`` would also total its files (a replay of the whole log; docs/performance.md).
    """
    try:
        rows = [tuple(r) for r in spark.sql(f"DESCRIBE TABLE EXTENDED {ref}").collect()]
    except AnalysisException as exc:
        if _not_delta(exc):
            return None
        raise
    info = {name: value for name, value, _ in rows}
    if (info.get("Provider") or "").lower() != "delta":
        return None
    props = {r[0]: r[1] for r in spark.sql(f"SHOW TBLPROPERTIES {ref}").collect()}
    location = info.get("Location") or ""
    return TableDetail(location=location, partition_columns=_partition_columns(rows), properties=props)


def _partition_columns(rows: list[tuple]) -> list[str]:
    """The partition columns in ``DESCRIBE TABLE`` rows (Delta quotes a name like `a b`; Spark's own do not)."""
    columns = set()
    for name, _, _ in rows:
        if name == "# Partition Information" or not name:
            break
        columns.add(name)
    at = next((i for i, r in enumerate(rows) if r[0] == "# Partition Information"), None)
    if at is None:
        return []
    out = []
    for name, _, _ in rows[at + 2 :]:  # after the "# col_name" header
        if not name or name.startswith("#"):
            break
        if name not in columns and len(name) > 1 and name[0] == name[-1] == "`":
            name = name[1:-1].replace("``", "`")
        out.append(name)
    return out


_COMMIT_FILE = re.compile(r"\d{20}\.json")


def listed_version(path: str) -> int | None:
    """The newest commit in the local ``path``'s ``_delta_log`` (None: no commit there).

    Raises ``LookupError`` when commits may live elsewhere: staged, not yet backfilled into the log
    (a table whose commits a coordinator or catalog owns; Delta 4 creates the folder empty anyway).
    """
    log_dir = os.path.join(path, "_delta_log")
    try:
        names = os.listdir(log_dir)
    except (FileNotFoundError, NotADirectoryError):
        return None
    staged = os.path.join(log_dir, "_staged_commits")
    if os.path.isdir(staged) and os.listdir(staged):
        raise LookupError(f"{staged} holds commits")
    versions = [int(n[:20]) for n in names if _COMMIT_FILE.fullmatch(n)]
    return max(versions) if versions else None


def latest_version(spark: SparkSession, ref: str, path: str | None = None) -> int | None:
    """The table's latest commit version, or None if not Delta.

    ``path`` (the table's path, when ``ref`` names one): on the driver's disk the log folder is
    listed; otherwise one ``DESCRIBE HISTORY ... LIMIT 1``.
    """
    if path is not None and sees_driver_disk(spark, path):
        try:
            return listed_version(path)
        except LookupError:
            pass
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
