"""The data files one Delta commit added, from its log entry, and their rows read back in file order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from imbalance_spark.common.names import backtick
from imbalance_spark.tables.delta_log import is_connect

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
    """The data files commit ``version`` added (one small read of its log entry, a row per file).

    A classic session reads the entry on the driver through Hadoop's file system (no Spark job:
    a read through Spark cost a planned query and a job for a few lines); Spark Connect, whose
    client has no JVM, reads it with Spark.
    """
    path = commit_file(location, version)
    if is_connect(spark):
        return _files_added_by_spark(spark, location, path)
    return parse_added_files(location, _read_text(spark, path))


def parse_added_files(location: str, log_entry: str) -> list[AddedFile]:
    """The add actions of a commit's log entry (JSON lines), in their order, as files."""
    added = []
    for line in log_entry.splitlines():
        add = json.loads(line).get("add") if line.strip() else None
        if add is None:
            continue
        stats = json.loads(add["stats"]) if add.get("stats") else {}
        rows = stats.get("numRecords") if isinstance(stats, dict) else None
        added.append(AddedFile(path=data_file_path(location, add["path"]), size=int(add.get("size") or 0),
                               rows=int(rows) if rows is not None else None))
    return added


def column_in_files(spark: SparkSession, location: str, version: int, column: str) -> str | None:
    """The name the data files of ``version`` give top-level ``column``: its column-mapping physical name.

    Read from the metadata of the version's checksum file, else of its log entry (the commit that
    created or changed the schema holds one); ``column`` itself when the table maps no names; None
    when neither file holds the metadata (or the column is not in it).
    """
    for path in (commit_file(location, version)[: -len(".json")] + ".crc", commit_file(location, version)):
        try:
            text = _read_small_text(spark, path)
        except Exception:  # noqa: BLE001 (no checksum file: try the log entry; neither: unknown)
            continue
        metadata = _metadata_of(text)
        if metadata is not None:
            fields = json.loads(metadata.get("schemaString") or "{}").get("fields", [])
            named = [f for f in fields if f.get("name", "").lower() == column.lower()]
            if not named:
                return None
            return (named[0].get("metadata") or {}).get("delta.columnMapping.physicalName", named[0]["name"])
    return None


def _metadata_of(text: str) -> dict | None:
    """The table metadata in a checksum file (``metadata``) or a log entry (a ``metaData`` action), if any."""
    for line in text.splitlines():
        doc = json.loads(line) if line.strip() else {}
        found = doc.get("metadata") or doc.get("metaData")
        if isinstance(found, dict):
            return found
    return None


def _read_small_text(spark: SparkSession, path: str) -> str:
    """A small file's text: on the driver in a classic session, through Spark (one small job) over Connect."""
    if is_connect(spark):
        return "\n".join(r.value for r in spark.read.text(path).collect())
    return _read_text(spark, path)


def _read_text(spark: SparkSession, path: str) -> str:
    """A small file's text, read on the driver with the session's Hadoop configuration (any file system)."""
    jvm = spark._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark._jsparkSession.sessionState().newHadoopConf())
    stream = fs.open(hadoop_path)
    try:
        return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def _files_added_by_spark(spark: SparkSession, location: str, path: str) -> list[AddedFile]:
    """The add actions of the log entry ``path``, read by Spark (one small job)."""
    adds = spark.read.schema(_ADD_SCHEMA).json(path).where("add IS NOT NULL")
    rows = adds.select(
        "add.path", "add.size", F.get_json_object("add.stats", "$.numRecords").cast("long").alias("rows")
    ).collect()
    return [AddedFile(path=data_file_path(location, r.path), size=int(r.size or 0), rows=r.rows) for r in rows]


def read_in_file_order(
    spark: SparkSession, paths: Sequence[str], columns: Sequence[str], schema: StructType | None = None
) -> DataFrame:
    """``columns`` of the Parquet files ``paths``, with each row's ``file_path`` and ``row_index`` in it.

    ``schema`` (the files' types of ``columns``, when known) spares Spark the job that reads a footer.
    """
    escaped = [_GLOB.sub(r"\\\1", p) for p in paths]
    reader = spark.read.schema(schema) if schema is not None else spark.read
    df = reader.parquet(*escaped)
    return df.select(
        *[F.col(backtick(c)) for c in columns],
        F.col("_metadata.file_path").alias("file_path"),
        F.col("_metadata.row_index").alias("row_index"),
    )
