"""Write the sample as a partitioned Delta table, in one commit, with the run in userMetadata.

The one place where output is written.
"""

from __future__ import annotations

import logging
import os

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.utils import AnalysisException

from imbalance_spark.config import OutputConfig
from imbalance_spark.errors import OutputError

log = logging.getLogger(__name__)

_MODES = {"overwrite": "overwrite", "error_if_exists": "errorifexists"}


def describe_output(out: OutputConfig) -> str:
    """A short human name for the output (path or table)."""
    return out.path or f"table {out.table}"


def output_exists(spark: SparkSession, out: OutputConfig) -> bool:
    """Whether the output table already exists."""
    if out.table is not None:
        return spark.catalog.tableExists(out.table)
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, out.path)


def check_output(spark: SparkSession, out: OutputConfig) -> None:
    """Fail before any work when the configured output cannot be written."""
    exists = output_exists(spark, out)
    if out.mode == "error_if_exists" and exists:
        raise OutputError(f"output: {describe_output(out)} already exists and output.mode is error_if_exists")
    if out.path and "://" not in out.path and os.path.exists(out.path) and not exists:
        if os.path.isfile(out.path) or os.listdir(out.path):
            raise OutputError(
                f"output.path: {out.path} exists and is not a Delta table; refusing to overwrite it"
            )


def write_delta(
    df: DataFrame,
    out: OutputConfig,
    user_metadata: str,
    properties: dict[str, str] | None = None,
) -> None:
    """Write ``df`` as Delta to the configured path or table in one commit.

    A new table is created with ``properties`` in that same commit; an existing one is
    overwritten (one commit) and its properties are altered only when they changed.
    """
    spark = df.sparkSession
    try:
        if properties and not output_exists(spark, out):
            _create_with_properties(df, out, user_metadata, properties)
            return
        writer = df.write.format("delta").mode(_MODES[out.mode]).option("userMetadata", user_metadata)
        if out.partition_by:
            writer = writer.partitionBy(*out.partition_by)
        if out.table is not None:
            writer.saveAsTable(out.table)
        else:
            writer.save(out.path)
    except AnalysisException as exc:
        first = str(exc).strip().splitlines()[0]
        raise OutputError(f"output {describe_output(out)}: {first}") from None
    if properties:
        set_table_properties(spark, out, properties)


_USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"


def _identifier(out: OutputConfig) -> str:
    return out.table if out.table is not None else "delta.`" + out.path.replace("`", "``") + "`"


def _create_with_properties(df: DataFrame, out: OutputConfig, user_metadata: str, properties: dict[str, str]) -> None:
    from pyspark.sql import functions as F

    spark = df.sparkSession
    writer = df.writeTo(_identifier(out)).using("delta")
    if out.partition_by:
        writer = writer.partitionedBy(*[F.col(f"`{c}`") for c in out.partition_by])
    for key, value in properties.items():
        writer = writer.tableProperty(key, value)
    # DataFrameWriterV2 has no userMetadata option; Delta reads this conf at commit time.
    spark.conf.set(_USER_METADATA_CONF, user_metadata)
    try:
        writer.create()
    finally:
        spark.conf.unset(_USER_METADATA_CONF)


def latest_version(spark: SparkSession, out: OutputConfig) -> int | None:
    """The latest Delta version of the output, or None if it does not exist."""
    if not output_exists(spark, out):
        return None
    from delta.tables import DeltaTable

    table = (
        DeltaTable.forName(spark, out.table) if out.table is not None else DeltaTable.forPath(spark, out.path)
    )
    return int(table.history(1).select("version").collect()[0][0])


def set_table_properties(spark: SparkSession, out: OutputConfig, props: dict[str, str], prefix: str = "imbalance_spark.") -> bool:
    """Make the table's ``prefix`` properties equal ``props``; commits only when they change."""
    from delta.tables import DeltaTable

    table = DeltaTable.forName(spark, out.table) if out.table is not None else DeltaTable.forPath(spark, out.path)
    current = {k: v for k, v in (table.detail().first()["properties"] or {}).items() if k.startswith(prefix)}
    if current == props:
        return False
    name = _identifier(out)

    def quote(s: str) -> str:
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"

    stale = sorted(set(current) - set(props))
    if stale:
        spark.sql(f"ALTER TABLE {name} UNSET TBLPROPERTIES IF EXISTS ({', '.join(quote(k) for k in stale)})")
    changed = {k: v for k, v in props.items() if current.get(k) != v}
    if changed:
        pairs = ", ".join(f"{quote(k)} = {quote(v)}" for k, v in sorted(changed.items()))
        spark.sql(f"ALTER TABLE {name} SET TBLPROPERTIES ({pairs})")
    return True
