"""The class-balance history table: one row per class per run.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

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


def append_history(
    spark: SparkSession, history: HistoryConfig, rows: list[dict], options: dict[str, str] | None = None
) -> None:
    """Append one row per class to the class-proportion history table (created on first use).

    ``options``: Delta write options, e.g. an incremental batch's ``txnAppId``/``txnVersion``.
    """
    df = spark.createDataFrame(rows, HISTORY_SCHEMA)
    writer = df.write.format("delta").mode("append").options(**(options or {}))
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
