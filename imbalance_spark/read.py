"""Read the input table named by the config and check it fits the config.

The one place where input is read; errors are typed (:class:`InputError`) and name the column.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from imbalance_spark.common.dates import RunDates
from imbalance_spark.common.text import one_line
from imbalance_spark.config.models import JobConfig
from imbalance_spark.errors import DataFrameMissingColumnError, InputError
from imbalance_spark.tables.delta_log import delta_ref, error_condition, latest_version, sees_driver_disk, version_at
from imbalance_spark.tables.write import has_file_stats
from imbalance_spark.transform import filter_dates

log = logging.getLogger(__name__)

# Fractional types hold labels too (MLlib writes 0.0/1.0): the profile refuses non-integral values.
SUPPORTED_LABEL_TYPES = (
    T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.StringType, T.BooleanType,
    T.FloatType, T.DoubleType, T.DecimalType,
)
NUMERIC_TYPES = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)


def describe_input(cfg: JobConfig) -> str:
    """A short human name for the input (path or table), secrets masked."""
    return cfg.redact(cfg.input.path or f"table {cfg.input.table}")


@dataclass(frozen=True)
class InputTable:
    """The input as read: the DataFrame (sliced to the run's dates) and its pinned Delta version."""

    df: DataFrame
    version: int | None
    dates: RunDates | None
    # the whole input when ``df`` is a slice: to say which dates there are when the slice is empty
    unsliced_df: DataFrame | None = None


def read_input(spark: SparkSession, cfg: JobConfig, dates: RunDates | None = None) -> InputTable:
    """Load the configured input, pinned to one Delta version and sliced to the run's dates."""
    src = cfg.input
    version = None
    try:
        if src.table is not None:
            if not spark.catalog.tableExists(src.table):
                raise InputError(f"input.table: table {src.table} does not exist")
            if src.format == "delta":
                version = resolve_input_version(spark, cfg)
            reader = spark.read.options(**src.options)
            if version is not None:
                reader = reader.option("versionAsOf", version)
            df = reader.table(src.table)
        else:
            latest = _check_path(spark, cfg)
            reader = spark.read.format(src.format).options(**src.options)
            if src.format == "csv":
                reader = reader.option("header", "true").option("inferSchema", "true")
            if src.format == "delta":
                version = resolve_input_version(spark, cfg, latest)
                reader = reader.option("versionAsOf", version)
            df = reader.load(src.path)
        # Over Spark Connect a DataFrame is resolved on the server only when asked: ask here,
        # where a missing path or an unreadable file becomes an InputError.
        df.schema  # noqa: B018
    except AnalysisException as exc:
        if src.path is not None and error_condition(exc) == "PATH_NOT_FOUND":
            raise InputError(f"input.path: {cfg.redact(src.path)} does not exist") from None
        if error_condition(exc) == "COLUMN_ALREADY_EXISTS":
            raise InputError(
                f"input {describe_input(cfg)}: two columns differ only in case, which Spark and Delta treat as the"
                f" same name ({cfg.redact(one_line(exc, first_line=True))}); rename or drop one"
            ) from None
        hint = ""
        if error_condition(exc) == "PARQUET_TYPE_ILLEGAL" and "NANOS" in str(exc):
            hint = (
                "; nanosecond timestamps (pandas' default) are not read by Spark: write them in microseconds,"
                " e.g. df.to_parquet(..., coerce_timestamps='us')"
            )
        cause = cfg.redact(one_line(exc, first_line=True))
        raise InputError(f"input {describe_input(cfg)}: cannot be read: {cause}{hint}") from None
    check_input_columns(df, cfg, dates)
    unsliced_df = None
    if dates is not None:
        unsliced_df, df = df, df.transform(filter_dates, src.date_column, dates.start, dates.end)
    return InputTable(df=df, version=version, dates=dates, unsliced_df=unsliced_df)


def resolve_input_version(spark: SparkSession, cfg: JobConfig, latest: int | None = None) -> int:
    """The Delta version this run reads: the pinned one, or the latest, resolved once at start.

    One ``DESCRIBE HISTORY ... LIMIT 1`` (skipped when ``latest`` is known), and one more for a
    timestamp.
    """
    src = cfg.input
    ref = delta_ref(src.path, src.table)
    if latest is None:
        latest = latest_version(spark, ref, src.path)
    if latest is None:
        raise InputError(f"input: {describe_input(cfg)} is not a Delta table; set input.format to what it holds")
    if src.version is not None:
        if src.version > latest:
            raise InputError(f"input.version: {src.version} does not exist (latest is {latest})")
        return src.version
    if src.timestamp is not None:
        try:
            ts = dt.datetime.fromisoformat(src.timestamp)
        except ValueError:
            raise InputError(f"input.timestamp: {src.timestamp!r} is not an ISO timestamp") from None
        version = version_at(spark, ref, ts)
        if version is None:
            raise InputError(f"input.timestamp: {src.timestamp} is before the table's first version")
        return version
    return int(latest)


def delta_root(path: str) -> str | None:
    """The Delta table at local ``path`` or at a folder above it (a partition folder), or None."""
    here = Path(path).resolve()
    for folder in (here, *here.parents):
        if (folder / "_delta_log").is_dir():
            return str(folder)
    return None


def _check_path(spark: SparkSession, cfg: JobConfig) -> int | None:
    """Refuse a path that does not fit input.format; return the latest version of a Delta input."""
    path, fmt = cfg.input.path, cfg.input.format
    local = sees_driver_disk(spark, path)
    if local and not os.path.exists(path):
        raise InputError(f"input.path: {cfg.redact(path)} does not exist")
    # A local path is walked on disk (a partition folder finds its table above it); elsewhere
    # one look-up of the log at the path itself answers, and gives the version to read.
    latest = None
    if local:
        root = delta_root(path)
        if fmt == "delta" and root is not None and Path(root) == Path(path).resolve():
            latest = latest_version(spark, delta_ref(path), path)
    else:
        latest = latest_version(spark, delta_ref(path), path)
        root = path if latest is not None else None
    if fmt != "delta" and root is not None:
        # Read as plain files, a Delta folder also yields the files its log has removed
        # (overwritten or deleted rows): refuse, as Delta itself does, rather than read them.
        at_root = not local or Path(root) == Path(path).resolve()
        inside = "" if at_root else f" (inside the Delta table {cfg.redact(root)})"
        raise InputError(
            f"input.path: {cfg.redact(path)} is a Delta table{inside} (a transaction log was found);"
            f" reading it as {fmt} would include files the table has removed; set input.format: delta"
        )
    if fmt == "delta" and root is not None and local and Path(root) != Path(path).resolve():
        raise InputError(
            f"input.path: {cfg.redact(path)} is a folder inside the Delta table {cfg.redact(root)};"
            " set input.path to the table and input.date_column with --run-date to read a slice"
        )
    if fmt == "delta" and (root is None or latest is None):
        if not local and not _exists_on_server(spark, path):
            raise InputError(f"input.path: {cfg.redact(path)} does not exist")
        raise InputError(
            f"input.path: {cfg.redact(path)} is not a Delta table (no _delta_log); "
            "set input.format to parquet or csv if that is what it holds"
        )
    return latest


def _exists_on_server(spark: SparkSession, path: str) -> bool:
    """Whether the driver finds anything at ``path`` (asked only once a read has failed)."""
    try:
        spark.read.format("text").load(path).schema  # noqa: B018
    except AnalysisException as exc:
        return error_condition(exc) != "PATH_NOT_FOUND"
    return True


class _InputColumns:
    """The input's columns, looked up by their configured names, with hints for near misses."""

    def __init__(self, df: DataFrame, cfg: JobConfig) -> None:
        self.fields = {f.name: f for f in df.schema.fields}
        self.cfg = cfg
        self.where = describe_input(cfg)
        self.by_case: dict[str, list[str]] = {}
        for name in self.fields:
            self.by_case.setdefault(name.casefold(), []).append(name)

    def need(self, column: str, key: str) -> T.StructField:
        """The field called ``column``, or a typed error naming the config key."""
        if column not in self.fields:
            hint = self._hint(column)
            raise DataFrameMissingColumnError(f"{key}: column {column!r} is not in input {self.where}{hint}")
        return self.fields[column]

    def _hint(self, column: str) -> str:
        # Config names are matched exactly: Spark would resolve "Is_Fraud" to is_fraud, but the
        # output, the report and the table properties would then disagree on the name.
        same = self.by_case.get(column.casefold())
        if same:
            return f"; did you mean {same[0]!r}? (column names in the config must match the data's case)"
        folder = os.path.basename((self.cfg.input.path or "").rstrip("/"))
        if folder.split("=", 1)[0] == column and "=" in folder:
            return f"; input.path ends in its partition folder {folder!r}: set input.path to the table's root folder"
        head = column.split(".")[0]
        if "." in column and head in self.fields and isinstance(self.fields[head].dataType, T.StructType):
            return (
                f"; {head!r} is a struct: config names are top-level column names, not paths;"
                " select the field into its own column first"
            )
        return f" (columns: {', '.join(self.fields)})"


def _check_case_clashes(cols: _InputColumns) -> None:
    clashes = [names for names in cols.by_case.values() if len(names) > 1]
    if clashes:
        raise InputError(
            f"input {cols.where}: columns {clashes[0]} differ only in case, which Spark and Delta treat as the"
            " same name; rename or drop one"
        )


def _check_label_and_weight_source(cols: _InputColumns, cfg: JobConfig) -> None:
    label = cols.need(cfg.label_column, "label_column")
    if not isinstance(label.dataType, SUPPORTED_LABEL_TYPES):
        raise InputError(
            f"label_column: column {cfg.label_column!r} has type {label.dataType.simpleString()};"
            " expected a class label: an integer, string or boolean, or a float/double/decimal of integral values"
        )
    if cfg.weight.source_column is not None:
        src = cols.need(cfg.weight.source_column, "weight.source_column")
        if not isinstance(src.dataType, NUMERIC_TYPES):
            raise InputError(
                f"weight.source_column: column {src.name!r} has type "
                f"{src.dataType.simpleString()}; expected a numeric weight"
            )


def _check_date_column(cols: _InputColumns, cfg: JobConfig, dates: RunDates | None) -> None:
    if dates is not None and cfg.input.date_column is None:
        raise InputError("input.date_column: a run date needs the input's date column in the config")
    if cfg.input.date_column is not None:
        date_field = cols.need(cfg.input.date_column, "input.date_column")
        if not isinstance(date_field.dataType, (T.DateType, T.TimestampType, T.TimestampNTZType, T.StringType)):
            raise InputError(
                f"input.date_column: column {date_field.name!r} has type {date_field.dataType.simpleString()};"
                " expected a date, timestamp or YYYY-MM-DD string"
            )


def _check_stats_columns(cols: _InputColumns, cfg: JobConfig) -> None:
    if not isinstance(cfg.output.stats_columns, list):
        return
    for column in cfg.output.stats_columns:
        field = None if column == cfg.weight.column else cols.need(column, "output.stats_columns")
        if field is not None and not has_file_stats(field.dataType):
            raise InputError(
                f"output.stats_columns: column {column!r} has type {field.dataType.simpleString()},"
                " which Delta keeps no file statistics for"
            )


def check_input_columns(df: DataFrame, cfg: JobConfig, dates: RunDates | None = None) -> None:
    """Raise a typed error when a configured column is missing or of the wrong type."""
    cols = _InputColumns(df, cfg)
    _check_case_clashes(cols)
    _check_label_and_weight_source(cols, cfg)
    for column in cfg.output.partition_by:
        cols.need(column, "output.partition_by")
    for column in cfg.downsampling.key_columns:
        cols.need(column, "downsampling.key_columns")
    for column in cfg.downsampling.strata:
        cols.need(column, "downsampling.strata")
    _check_date_column(cols, cfg, dates)
    _check_stats_columns(cols, cfg)
    _check_weight_column_is_new(cols, cfg)


def _check_weight_column_is_new(cols: _InputColumns, cfg: JobConfig) -> None:
    taken = cols.by_case.get(cfg.weight.column.casefold(), [])
    if taken and cfg.weight.column != cfg.weight.source_column:
        raise InputError(
            f"weight.column: column {taken[0]!r} already exists in input {cols.where};"
            " choose another name or set weight.source_column to it"
        )


def missing_files_error(exc: Exception, cfg: JobConfig) -> InputError | None:
    """The typed error for a read that found the files of its Delta version gone, else None."""
    condition = error_condition(exc) or ""
    if "FAILED_READ_FILE.FILE_NOT_EXIST" not in condition + str(exc):
        return None
    where = describe_input(cfg)
    if cfg.input.version is not None or cfg.input.timestamp is not None:
        pin = f"version {cfg.input.version}" if cfg.input.version is not None else f"timestamp {cfg.input.timestamp}"
        key = "input.version" if cfg.input.version is not None else "input.timestamp"
        return InputError(
            f"{key}: {pin} of {where} has data files that are gone (removed by VACUUM, or deleted);"
            f" pin a later version or remove {key}"
        )
    return InputError(
        f"input {where}: data files disappeared while the run read them (the table was overwritten and"
        " vacuumed, or files were deleted); run again"
    )
