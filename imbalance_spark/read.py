"""Read the input table named by the config and check it fits the config.

The one place where input is read; errors are typed (:class:`InputError`) and name the column.
"""

from __future__ import annotations

import logging
import os

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T
from pyspark.sql.utils import AnalysisException

from imbalance_spark.config import JobConfig
from imbalance_spark.errors import DataFrameMissingColumnError, InputError

log = logging.getLogger(__name__)

SUPPORTED_LABEL_TYPES = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.StringType, T.BooleanType)
NUMERIC_TYPES = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)


def describe_input(cfg: JobConfig) -> str:
    """A short human name for the input (path or table)."""
    return cfg.input.path or f"table {cfg.input.table}"


def read_input(spark: SparkSession, cfg: JobConfig) -> DataFrame:
    """Load the configured input as a DataFrame and validate its columns against the config."""
    src = cfg.input
    try:
        if src.table is not None:
            if not spark.catalog.tableExists(src.table):
                raise InputError(f"input.table: table {src.table} does not exist")
            df = spark.table(src.table)
        else:
            _check_path(spark, src.path, src.format)
            reader = spark.read.format(src.format)
            if src.format == "csv":
                reader = reader.option("header", "true").option("inferSchema", "true")
            df = reader.load(src.path)
    except AnalysisException as exc:
        raise InputError(f"input {describe_input(cfg)}: cannot be read: {_first_line(exc)}") from None
    check_input_columns(df, cfg)
    return df


def _check_path(spark: SparkSession, path: str, fmt: str) -> None:
    if "://" not in path and not os.path.exists(path):
        raise InputError(f"input.path: {path} does not exist")
    if fmt == "delta":
        from delta.tables import DeltaTable

        if not DeltaTable.isDeltaTable(spark, path):
            raise InputError(
                f"input.path: {path} is not a Delta table (no _delta_log); "
                "set input.format to parquet or csv if that is what it holds"
            )


def check_input_columns(df: DataFrame, cfg: JobConfig) -> None:
    """Raise a typed error when a configured column is missing or of the wrong type."""
    fields = {f.name: f for f in df.schema.fields}
    where = describe_input(cfg)

    def need(column: str, key: str) -> T.StructField:
        if column not in fields:
            raise DataFrameMissingColumnError(
                f"{key}: column {column!r} is not in input {where} (columns: {', '.join(fields)})"
            )
        return fields[column]

    label = need(cfg.label_column, "label_column")
    if not isinstance(label.dataType, SUPPORTED_LABEL_TYPES):
        raise InputError(
            f"label_column: column {cfg.label_column!r} has type {label.dataType.simpleString()};"
            " expected an integer, string or boolean class label"
        )
    if cfg.weight.source_column is not None:
        src = need(cfg.weight.source_column, "weight.source_column")
        if not isinstance(src.dataType, NUMERIC_TYPES):
            raise InputError(
                f"weight.source_column: column {src.name!r} has type "
                f"{src.dataType.simpleString()}; expected a numeric weight"
            )
    for column in cfg.output.partition_by:
        need(column, "output.partition_by")
    for column in cfg.downsampling.key_columns:
        need(column, "downsampling.key_columns")
    if cfg.weight.column in fields and cfg.weight.column != cfg.weight.source_column:
        raise InputError(
            f"weight.column: column {cfg.weight.column!r} already exists in input {where};"
            " choose another name or set weight.source_column to it"
        )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
