"""The data files one Delta commit added, from its log entry, and their rows read back in file order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from imbalance_spark.common.names import backtick

# Only what the job needs of an add action: the file, and its statistics (numRecords).
_ADD_SCHEMA = "add struct<path: string, size: long, stats: string>"
# Hadoop's glob characters: a file name (a partition value) holding one is escaped, not expanded.
_GLOB = re.compile(r"([\\*?\[\]{}])")


@dataclass(frozen=True)
class AddedFile:
    """A data file a commit added: where it is, its bytes and its rows (Delta's numRecords, if kept)."""

    path: str
    size: int
    rows: int | None


def commit_file(location: str, version: int) -> str:
    """The log entry of ``version`` of the table at ``location``."""
    return f"{location.rstrip('/')}/_delta_log/{version:020d}.json"


def data_file_path(location: str, relative: str) -> str:
    """An add action's path (URI-encoded, relative to the table unless absolute) as a file to read."""
    if "://" in relative or relative.startswith("/"):
        return relative
    return f"{location.rstrip('/')}/{unquote(relative)}"


def files_added(spark: SparkSession, location: str, version: int) -> list[AddedFile]:
    """The data files commit ``version`` added (one small read of its log entry, a row per file)."""
    adds = spark.read.schema(_ADD_SCHEMA).json(commit_file(location, version)).where("add IS NOT NULL")
    rows = adds.select(
        "add.path", "add.size", F.get_json_object("add.stats", "$.numRecords").cast("long").alias("rows")
    ).collect()
    return [AddedFile(path=data_file_path(location, r.path), size=int(r.size or 0), rows=r.rows) for r in rows]


def read_in_file_order(spark: SparkSession, paths: Sequence[str], columns: Sequence[str]) -> DataFrame:
    """``columns`` of the Parquet files ``paths``, with each row's ``file_path`` and ``row_index`` in it."""
    escaped = [_GLOB.sub(r"\\\1", p) for p in paths]
    df = spark.read.parquet(*escaped)
    return df.select(
        *[F.col(backtick(c)) for c in columns],
        F.col("_metadata.file_path").alias("file_path"),
        F.col("_metadata.row_index").alias("row_index"),
    )
