"""The class-balance history table: one row per class per run (a stratified run: per stratum too).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from imbalance_spark.config.models import HistoryConfig
from imbalance_spark.tables import delta_log
from imbalance_spark.tables.delta_log import (
    delta_ref,
)

HISTORY_SCHEMA = (
    "dataset string, run_id string, run_date date, run_end_date date, class string, input_count long,"
    " share double, degree string, output_count long, weight_sum double, factor double,"
    " input_version long, recorded_at timestamp"
)


# A stratified run's rows name their stratum; its class rows (the whole table) have a null one.
STRATUM_COLUMN = "stratum"


def append_history(
    spark: SparkSession, history: HistoryConfig, rows: list[dict], options: dict[str, str] | None = None
) -> None:
    """Append one row per class (and stratum) to the class-proportion history table (created on first use).

    Rows with a stratum add the nullable ``stratum`` column to a table written before it existed
    (Delta's mergeSchema); rows without one append to either kind of table as they always did.
    ``options``: Delta write options, e.g. an incremental batch's ``txnAppId``/``txnVersion``.
    """
    stratified = any(STRATUM_COLUMN in r for r in rows)
    schema = HISTORY_SCHEMA + f", {STRATUM_COLUMN} string" if stratified else HISTORY_SCHEMA
    df = spark.createDataFrame(rows, schema)
    writer = df.write.format("delta").mode("append").options(**(options or {}))
    if stratified:
        writer = writer.option("mergeSchema", "true")
    if history.table is not None:
        writer.saveAsTable(history.table)
    else:
        writer.save(history.path)


def read_history(spark: SparkSession, history: HistoryConfig) -> DataFrame | None:
    """The history table, or None when no run has written it yet."""
    if history.table is not None:
        return spark.table(history.table) if spark.catalog.tableExists(history.table) else None
    exists = delta_log.latest_version(spark, delta_ref(history.path), history.path) is not None
    return spark.read.format("delta").load(history.path) if exists else None


def class_history(df: DataFrame) -> DataFrame:
    """The whole-table rows of the history (per class per run), without a stratified run's stratum rows."""
    return df.filter(F.col(STRATUM_COLUMN).isNull()) if STRATUM_COLUMN in df.columns else df
