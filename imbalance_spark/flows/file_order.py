"""The output's files as a trainer reading them in order meets them: one label-only read of the files written.

The commit's log entry lists the files it added (with their rows); their label column, read back
with each row's index in its file, gives per file the minority rows and the batches holding one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from urllib.parse import unquote, urlparse

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from imbalance_spark.common.names import backtick
from imbalance_spark.common.text import one_line
from imbalance_spark.config.models import JobConfig
from imbalance_spark.report.build import output_files_section
from imbalance_spark.report.models import FileCounts, OutputFiles
from imbalance_spark.tables.delta_log import table_detail
from imbalance_spark.tables.files import AddedFile, column_in_files, files_added, read_in_file_order
from imbalance_spark.tables.inspect import output_ref
from imbalance_spark.transform import file_batch_counts

log = logging.getLogger(__name__)

# The batch a trainer reads (the guide's example): batches of 128 rows, in file order.
BATCH_ROWS = 128


def _file_name(path: str) -> str:
    """A data file's name (unique in a commit: it holds a UUID), from a path or a URI."""
    return os.path.basename(unquote(urlparse(path).path) if "://" in path or path.startswith("file:") else path)


def output_location(spark: SparkSession, cfg: JobConfig) -> str:
    """Where the output table's files are: its path, or a catalog table's location."""
    if cfg.output.path is not None:
        return cfg.output.path
    detail = table_detail(spark, output_ref(cfg.output))
    if detail is None:
        raise LookupError(f"no Delta table {cfg.output.table}")
    return detail.location


def label_schema(label_column: str, schema: StructType | None) -> StructType | None:
    """The label's field of the written schema (matched as Spark matches names), or None if absent."""
    fields = [f for f in (schema.fields if schema is not None else []) if f.name.lower() == label_column.lower()]
    return StructType(fields[:1]) if fields else None


def count_files(
    spark: SparkSession, cfg: JobConfig, minority_keys: list[str], added: list[AddedFile],
    schema: StructType | None = None, written: tuple[str, int] | None = None,
) -> list[FileCounts]:
    """Each added file's rows, minority rows and batches holding a minority row (one aggregation).

    ``schema``: the written schema, whose label type spares reading a file's footer first (see
    :func:`_typed_counts`); otherwise the files are read with the types they declare. ``written``:
    the table's location and version, to find the label's name in the files of a table that maps
    column names (column mapping), when they do not hold it under its own name.
    """
    if not added:
        return []
    label, typed = cfg.label_column, label_schema(cfg.label_column, schema)
    counted = _typed_counts(spark, label, label, minority_keys, added, typed)
    column = label
    if counted is None and written is not None:
        column = column_in_files(spark, written[0], written[1], label) or label
        if column != label and typed is not None:
            counted = _typed_counts(spark, column, label, minority_keys, added,
                                    StructType([StructField(column, typed.fields[0].dataType)]))
    if counted is None:
        rows_df = read_in_file_order(spark, [f.path for f in added], [column]).withColumnRenamed(column, label)
        counted = _batch_counts(rows_df, label, minority_keys)
    by_name = {_file_name(r.file_path): r for r in counted}
    out = []
    for f in added:
        r = by_name.get(_file_name(f.path))
        out.append(FileCounts(
            rows=int(r.rows) if r else 0, minority_rows=int(r.minority_rows) if r else 0, size=f.size,
            batches_with_minority=int(r.batches_with_minority) if r else 0,
        ))
    return out


def _typed_counts(
    spark: SparkSession, column: str, label: str, minority_keys: list[str], added: list[AddedFile],
    typed: StructType | None,
) -> list | None:
    """The per-file rows read with the written label type, or None where that read cannot be trusted.

    ``column`` is the label's name in the files (``label`` unless the table maps column names). A
    written label is never null, so each file's non-null labels must number its rows in the log
    (numRecords): a file that names its columns otherwise (column mapping) reads as nulls under a
    given schema, and one holding another type fails; both are then read another way.
    """
    if typed is None or any(f.rows is None for f in added):
        return None
    rows_df = read_in_file_order(spark, [f.path for f in added], [column], typed).withColumnRenamed(column, label)
    try:
        counted = _batch_counts(rows_df.where(F.col(backtick(label)).isNotNull()), label, minority_keys)
    except Exception:  # noqa: BLE001 (the files hold another type: read them as they are)
        return None
    rows = {_file_name(r.file_path): int(r.rows) for r in counted}
    return counted if all(rows.get(_file_name(f.path), 0) == f.rows for f in added) else None


def _batch_counts(rows_df: DataFrame, label_column: str, minority_keys: list[str]) -> list:
    """The per-file aggregate rows (collected: one per file)."""
    return rows_df.transform(file_batch_counts, label_column, minority_keys, BATCH_ROWS).collect()


def measure_output_files(
    spark: SparkSession, cfg: JobConfig, minority_keys: list[str], version: int | None,
    schema: StructType | None = None,
) -> OutputFiles | None:
    """The report's ``output_files``: the files commit ``version`` wrote, read back in file order.

    Where they cannot be read back (the label is a partition column, so not in the files; a table
    that maps column names without the metadata to find the label's name in its files), the section
    says why, with what the log entry gives (files, rows and bytes per file). ``schema``: the written
    DataFrame's, if known.
    """
    if version is None:
        return None
    order, limit = cfg.output.row_order, cfg.output.max_records_per_file
    try:
        location = output_location(spark, cfg)
        added = files_added(spark, location, version)
    except Exception as exc:  # noqa: BLE001 (the commit is done: its file list is advisory, never a failed run)
        log.warning("output files not listed: %s", one_line(exc, first_line=True))
        return _unmeasured([], order, limit, f"files not listed: {one_line(exc, first_line=True)}")
    if cfg.label_column in cfg.output.partition_by:
        return _unmeasured(added, order, limit, "the label is a partition column: each file holds one class")
    try:
        counts = count_files(spark, cfg, minority_keys, added, schema, (location, version))
    except Exception as exc:  # noqa: BLE001 (the files do not hold the label where expected; a store refuses)
        log.warning("output files not read back: %s", one_line(exc, first_line=True))
        return _unmeasured(added, order, limit, f"files not read back: {one_line(exc, first_line=True)}")
    return output_files_section(counts, order, BATCH_ROWS, limit)


def _unmeasured(added: list[AddedFile], order: str, limit: int | None, why: str) -> OutputFiles:
    """The section from the log entry alone: files, rows and bytes per file, no batches."""
    counts = [FileCounts(rows=f.rows or 0, minority_rows=0, size=f.size, batches_with_minority=0) for f in added]
    section = output_files_section(counts, order, BATCH_ROWS, limit)
    return dataclasses.replace(
        section, minority_share=None, batches_without_minority=0, share_without_minority=None,
        random_share_without_minority=None, pooled_random_share_without_minority=None, note=why,
    )
