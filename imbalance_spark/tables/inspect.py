"""What is at the output before anything is written: existence, mode, names, schema, partitions.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from imbalance_spark.common.dates import RunDates, date_kind
from imbalance_spark.common.names import backtick
from imbalance_spark.config.models import OutputConfig, redact
from imbalance_spark.errors import ConfigError, OutputError
from imbalance_spark.tables.delta_log import TableDetail, delta_ref, error_condition, is_connect, table_detail


def output_ref(out: OutputConfig) -> str:
    """How Delta SQL names the output: delta.`path` or the catalog table."""
    return delta_ref(out.path, out.table)


def resolve_output_mode(out: OutputConfig, dates: RunDates | None) -> str:
    """The effective write mode: replace_slice when the run has dates, else overwrite."""
    if out.mode is None:
        return "replace_slice" if dates is not None else "overwrite"
    if out.mode == "replace_slice" and dates is None:
        raise ConfigError("output.mode: replace_slice needs a run date (--run-date or --start-date/--end-date)")
    if out.mode == "overwrite" and dates is not None:
        raise ConfigError(
            f"output.mode: overwrite with run date(s) {dates} would replace the whole table with one slice;"
            " use replace_slice (the default with a run date)"
        )
    return out.mode


def describe_output(out: OutputConfig) -> str:
    """A short human name for the output (path or table)."""
    return redact(out.path or f"table {out.table}")


@dataclass(frozen=True)
class OutputTable:
    """The output as found before the run: its Delta detail and schema (None: no table yet).

    Looked up once (its metadata, :func:`~imbalance_spark.tables.delta_log.table_detail`, and the
    schema of an existing table) and handed to the steps that need it, rather than each asking again.
    """

    detail: TableDetail | None
    schema: T.StructType | None = None

    @property
    def exists(self) -> bool:
        return self.detail is not None


def find_output(spark: SparkSession, out: OutputConfig) -> OutputTable:
    """Look the output up once: whether it is a Delta table, its partitioning, properties and schema."""
    ref = output_ref(out)
    detail = table_detail(spark, ref)
    if detail is None:
        if out.table is not None and spark.catalog.tableExists(out.table):
            raise OutputError(f"output.table: {out.table} exists and is not a Delta table; refusing to overwrite it")
        return OutputTable(detail=None)
    return OutputTable(detail=detail, schema=spark.sql(f"SELECT * FROM {ref}").schema)


def check_output(spark: SparkSession, out: OutputConfig, mode: str) -> OutputTable:
    """Fail before any work when the configured output cannot be written; return what was found."""
    found = find_output(spark, out)
    if mode == "error_if_exists" and found.exists:
        raise OutputError(f"output: {describe_output(out)} already exists and output.mode is error_if_exists")
    if out.path and not found.exists and _holds_files(spark, out.path):
        raise OutputError(
            f"output.path: {describe_output(out)} exists and is not a Delta table; refusing to overwrite it"
            " (point output.path at a new folder, or delete this one if it is what a run stopped before"
            " its first commit left)"
        )
    return found


def _holds_files(spark: SparkSession, path: str) -> bool:
    """Whether a file, or a folder with files, is at ``path`` (the driver's view of it).

    A local path of a classic session is looked at here; otherwise (Spark Connect, remote
    stores) the driver lists it: only a count comes back.
    """
    if "://" not in path and not is_connect(spark):
        return os.path.exists(path) and (os.path.isfile(path) or bool(os.listdir(path)))
    from pyspark.sql import functions as F

    try:
        return spark.read.format("binaryFile").load(path).select(F.lit(1)).limit(1).count() > 0
    except AnalysisException as exc:
        if error_condition(exc) == "PATH_NOT_FOUND":
            return False
        raise


# Delta refuses these in column names unless the table uses column mapping (Parquet once did).
_DELTA_INVALID_NAME_CHARS = " ,;{}()\n\t="


COLUMN_MAPPING_PROPERTY = "delta.columnMapping.mode"


def names_needing_mapping(schema: T.StructType) -> list[str]:
    """The column names (nested fields as ``a.b``) a Delta table can hold only with column mapping."""
    found: list[str] = []

    def walk(dtype: T.DataType, prefix: str) -> None:
        if isinstance(dtype, T.StructType):
            for f in dtype.fields:
                name = prefix + f.name
                if any(ch in f.name for ch in _DELTA_INVALID_NAME_CHARS):
                    found.append(name)
                walk(f.dataType, name + ".")
        elif isinstance(dtype, T.ArrayType):
            walk(dtype.elementType, prefix)
        elif isinstance(dtype, T.MapType):
            walk(dtype.keyType, prefix)
            walk(dtype.valueType, prefix)

    walk(schema, "")
    return found


def has_column_mapping(properties: dict[str, str]) -> bool:
    """Whether a Delta table's properties enable column mapping (mode ``name`` or ``id``)."""
    return properties.get(COLUMN_MAPPING_PROPERTY, "none").lower() in ("name", "id")


def check_column_names(schema: T.StructType, out: OutputConfig, found: OutputTable) -> list[str]:
    """Refuse, before any work, names an existing output without column mapping cannot hold.

    Returns the names that need column mapping: a new table is created with it (only then, so
    ordinary tables keep the protocol every Delta reader supports).
    """
    names = names_needing_mapping(schema)
    if names and found.exists and not has_column_mapping(found.detail.properties):
        raise OutputError(
            f"output {describe_output(out)}: column name(s) {names} contain a space or one of , ; {{ }} ( ) = tab"
            " newline, which the existing table can hold only with Delta column mapping; enable it with"
            f" ALTER TABLE {redact(output_ref(out))} SET TBLPROPERTIES ('{COLUMN_MAPPING_PROPERTY}' = 'name')"
            " (it raises the table's protocol to reader 2 / writer 5 or above: readers without column mapping"
            " support, such as Delta before 1.2, can no longer read it), or rename the columns in the input"
        )
    return names


def check_partition_count(out: OutputConfig, estimate: int | None, by_column: tuple[int, ...] = ()) -> None:
    """Refuse a run whose output would have more than ``output.max_partitions`` partitions.

    ``estimate`` is the approximate number of distinct partition values in the rows read (an upper
    bound of what the sample writes), from the profiling pass; ``by_column`` the same per column.
    """
    if estimate is None or estimate <= out.max_partitions:
        return
    named = list(zip(out.partition_by, by_column, strict=False))
    column, distinct = max(named, key=lambda p: p[1]) if named else (out.partition_by[0], estimate)
    raise OutputError(
        f"output.partition_by: partitioning by {list(out.partition_by)} would write about {estimate:,} partitions"
        f" (column {column!r} has ~{distinct:,} distinct values), more than output.max_partitions"
        f" {out.max_partitions:,}; partition by a low-cardinality column such as a date, or raise output.max_partitions"
    )


def check_output_schema(out: OutputConfig, df: DataFrame, mode: str, found: OutputTable) -> dict[str, str]:
    """Compare the existing table's schema and partitioning (as ``found``) with ``df``; return the write options.

    A mismatch is an error unless ``output.schema_evolution: merge``.
    """
    if not found.exists:
        return {}
    existing = found.schema
    partitions = list(found.detail.partition_columns)
    theirs = {f.name: f.dataType.simpleString() for f in existing.fields}
    ours = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    problems = []
    if partitions != list(out.partition_by):
        problems.append(f"it is partitioned by {partitions or 'nothing'}, the config says {list(out.partition_by)}")
    missing = [c for c in theirs if c not in ours]
    added = [c for c in ours if c not in theirs]
    retyped = [f"{c} ({theirs[c]} -> {ours[c]})" for c in ours if c in theirs and theirs[c] != ours[c]]
    if added:
        problems.append(f"new column(s) {added}")
    if missing:
        problems.append(f"column(s) {missing} no longer produced")
    if retyped:
        problems.append(f"changed type(s) {retyped}")
    if not problems:
        return {}
    if out.schema_evolution == "merge":
        if mode == "overwrite":
            return {"overwriteSchema": "true"}
        if partitions == list(out.partition_by) and not retyped:
            return {"mergeSchema": "true"}
    raise OutputError(
        f"output {describe_output(out)}: the existing table does not match: {'; '.join(problems)}"
        + ("" if out.schema_evolution == "merge" else "; set output.schema_evolution: merge to evolve it")
    )


def replace_where(df: DataFrame, date_column: str, dates: RunDates) -> str:
    """The Delta replaceWhere predicate selecting the run's dates in the output."""
    kind = date_kind(df.schema[date_column].dataType)
    col = backtick(date_column)
    if kind == "timestamp":
        after = dates.end + dt.timedelta(days=1)
        return f"{col} >= '{dates.start} 00:00:00' AND {col} < '{after} 00:00:00'"
    if kind == "date":
        return f"{col} >= DATE'{dates.start}' AND {col} <= DATE'{dates.end}'"
    # ISO text up to the next day, as transform.filter_dates selects it
    return f"{col} >= '{dates.start}' AND {col} < '{dates.end + dt.timedelta(days=1)}'"
