"""Writing the output Delta table: create with its properties in one commit, overwrite, replace a slice.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from delta.exceptions import (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from imbalance_spark.common.names import backtick, quote_if_needed
from imbalance_spark.common.text import one_line
from imbalance_spark.config.models import OutputConfig, redact
from imbalance_spark.errors import OutputError
from imbalance_spark.tables import delta_log
from imbalance_spark.tables.delta_log import table_detail
from imbalance_spark.tables.inspect import (
    COLUMN_MAPPING_PROPERTY,
    OutputTable,
    describe_output,
    names_needing_mapping,
    output_ref,
)

log = logging.getLogger(__name__)


_CONCURRENT = (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)


_MODES = {"overwrite": "overwrite", "replace_slice": "overwrite", "error_if_exists": "errorifexists"}


# Which columns Delta collects file statistics for while it writes (unset: the first 32).
STATS_PROPERTY = "delta.dataSkippingStatsColumns"


# Delta Change Data Feed on the output (output.change_data_feed): readers can follow its changes.
CDF_PROPERTY = "delta.enableChangeDataFeed"


def cdf_property(out: OutputConfig) -> dict[str, str]:
    """The table property switching Delta Change Data Feed on, when ``output.change_data_feed`` asks for it."""
    return {CDF_PROPERTY: "true"} if out.change_data_feed else {}


_STATS_TYPES = (
    T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType,
    T.DateType, T.TimestampType, T.TimestampNTZType, T.StringType,
)


def has_file_stats(dtype: T.DataType) -> bool:
    """Whether Delta can keep min/max file statistics for a column of this type (not boolean/binary)."""
    return isinstance(dtype, _STATS_TYPES)


def stats_property(wanted: list[str] | None, explicit: bool, schema: T.StructType) -> dict[str, str]:
    """The table property choosing the statistics columns: ``wanted`` (None: Delta's default).

    Defaults (not ``explicit``) leave out columns whose type Delta keeps no statistics for.
    """
    if wanted is None:
        return {}
    types = {f.name: f.dataType for f in schema.fields}
    columns = [c for c in wanted if explicit or has_file_stats(types[c])]
    return {STATS_PROPERTY: ",".join(quote_column(c) for c in columns)}


def quote_column(name: str) -> str:
    """A column name as Delta's table properties and SQL expect it (backticks when not plain)."""
    return quote_if_needed(name)


def write_delta(
    df: DataFrame,
    out: OutputConfig,
    user_metadata: str,
    properties: dict[str, str] | None = None,
    *,
    found: OutputTable,
    mode: str = "overwrite",
    where: str | None = None,
    options: dict[str, str] | None = None,
    create: Callable[[DataFrame, OutputConfig, str, dict[str, str]], None] | None = None,
) -> None:
    """Write ``df`` as Delta to the configured path or table in one commit.

    A new table is created by ``create`` (default :func:`create_with_properties`) with ``properties``
    in that same commit (and Delta column mapping when a column name needs it, see
    :func:`check_column_names`); an existing one is overwritten (one commit) and its properties are
    altered only when they changed: the statistics columns before the write (they decide how its
    files are written), the rest after it. ``found`` is the output as :func:`check_output` found it.
    """
    create = create or create_with_properties
    spark = df.sparkSession
    with max_records_per_file(spark, out.max_records_per_file):
        _write_delta(df, out, user_metadata, properties, found=found, mode=mode, where=where, options=options,
                     create=create)


_MAX_RECORDS_CONF = "spark.sql.files.maxRecordsPerFile"


@contextmanager
def max_records_per_file(spark: SparkSession, limit: int | None) -> Iterator[None]:
    """Files of at most ``limit`` rows while the block writes (Spark's conf, read by every write path:
    DataFrameWriter, DataFrameWriterV2 and CREATE TABLE AS SELECT); the previous value after it."""
    if limit is None:
        yield
        return
    previous = spark.conf.get(_MAX_RECORDS_CONF, None)
    spark.conf.set(_MAX_RECORDS_CONF, str(limit))
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(_MAX_RECORDS_CONF)
        else:
            spark.conf.set(_MAX_RECORDS_CONF, previous)


def _write_delta(
    df: DataFrame,
    out: OutputConfig,
    user_metadata: str,
    properties: dict[str, str] | None,
    *,
    found: OutputTable,
    mode: str,
    where: str | None,
    options: dict[str, str] | None,
    create: Callable[[DataFrame, OutputConfig, str, dict[str, str]], None],
) -> None:
    """:func:`write_delta`'s body, with the file-size setting in place."""
    spark = df.sparkSession
    stats = {k: v for k, v in (properties or {}).items() if k == STATS_PROPERTY}
    cdf = {k: v for k, v in (properties or {}).items() if k == CDF_PROPERTY}
    properties = {k: v for k, v in (properties or {}).items() if k not in (STATS_PROPERTY, CDF_PROPERTY)} or None
    current = None
    try:
        if properties or stats or cdf or names_needing_mapping(df.schema):
            if not found.exists:
                create(df, out, user_metadata, {**(properties or {}), **stats, **cdf})
                return
            current = found.detail.properties
            set_table_properties(spark, out, stats, prefix=STATS_PROPERTY, current=current)
            if cdf:  # switched on once; `change_data_feed: false` leaves a table's feed as it is
                set_table_properties(spark, out, cdf, prefix=CDF_PROPERTY, current=current)
        if out.table is not None and found.exists:
            _overwrite_catalog_table(df, out.table, user_metadata, where if mode == "replace_slice" else None, options)
        else:
            writer = df.write.format("delta").mode(_MODES[mode]).option("userMetadata", user_metadata)
            writer = writer.options(**(options or {}))
            if mode == "replace_slice":
                writer = writer.option("replaceWhere", where)
            if out.partition_by:
                writer = writer.partitionBy(*out.partition_by)
            if out.table is not None:
                writer.saveAsTable(out.table)
            else:
                writer.save(out.path)
    except AnalysisException as exc:
        first = one_line(exc, first_line=True)
        raise OutputError(f"output {describe_output(out)}: {redact(first)}") from None
    except _CONCURRENT as exc:
        # Delta's optimistic concurrency: another run committed to what this one replaces (the
        # same date, say); this commit was refused whole, so nothing of it is in the table.
        raise OutputError(
            f"output {describe_output(out)}: another writer changed the table while this run wrote"
            f" ({type(exc).__name__}); this run committed nothing: run it again"
        ) from None
    if properties:
        set_table_properties(spark, out, properties, current=current)


def append_delta(
    df: DataFrame,
    out: OutputConfig,
    user_metadata: str,
    *,
    app_id: str,
    version: int,
    options: dict[str, str] | None = None,
) -> None:
    """Append ``df`` in one commit, once: Delta skips a write whose (``app_id``, ``version``) it has committed.

    ``txnAppId``/``txnVersion`` make a micro-batch retried after a crash a no-op (Delta's idempotent
    writes in foreachBatch); the table must exist (a creating write would record no transaction).
    """
    writer = (
        df.write.format("delta").mode("append").option("userMetadata", user_metadata)
        .option("txnAppId", app_id).option("txnVersion", str(version)).options(**(options or {}))
    )
    try:
        if out.table is not None:
            writer.saveAsTable(out.table)
        else:
            writer.save(out.path)
    except AnalysisException as exc:
        raise OutputError(f"output {describe_output(out)}: {redact(one_line(exc, first_line=True))}") from None
    except _CONCURRENT as exc:
        raise OutputError(
            f"output {describe_output(out)}: another writer changed the table while this run appended"
            f" ({type(exc).__name__}); this batch committed nothing: run it again"
        ) from None


_USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
# The session conf is shared by every thread of a session: one table creation at a time sets it, so
# runs on threads of one session never commit each other's metadata (other writes pass it as an option).
_USER_METADATA_LOCK = threading.Lock()


def _overwrite_catalog_table(
    df: DataFrame, table: str, user_metadata: str, where: str | None, options: dict[str, str] | None
) -> None:
    """Overwrite an existing catalog table (the rows matching ``where``, else all) in one commit.

    Through DataFrameWriterV2's overwrite-by-condition: ``saveAsTable`` in overwrite mode replaces
    the table through the session catalog, which fails on a Delta table whose partition columns
    are not the last ones, and parses partition names (a space in one is a syntax error).
    """
    from pyspark.sql import functions as F

    writer = df.writeTo(table).option("userMetadata", user_metadata).options(**(options or {}))
    writer.overwrite(F.expr(where) if where is not None else F.lit(True))


def create_with_properties(df: DataFrame, out: OutputConfig, user_metadata: str, properties: dict[str, str]) -> None:
    """Create the table from ``df`` in one commit (CTAS): its data, ``properties`` and ``user_metadata``.

    Column names that need it (a space, ``,;{}()=``) get Delta column mapping, set in the same
    statement. SQL rather than DataFrameWriterV2, whose ``partitionedBy`` cannot name such a column.
    """
    spark = df.sparkSession
    if names_needing_mapping(df.schema):
        properties = {**properties, COLUMN_MAPPING_PROPERTY: "name"}
    view = f"imbalance_spark_output_{uuid.uuid4().hex}"
    partitioned = (
        f" PARTITIONED BY ({', '.join(_quote_name(c) for c in out.partition_by)})" if out.partition_by else ""
    )
    pairs = ", ".join(f"{_quote_text(k)} = {_quote_text(v)}" for k, v in properties.items())
    df.createOrReplaceTempView(view)
    # CTAS has no userMetadata option; Delta reads this conf at commit time.
    try:
        with _USER_METADATA_LOCK:
            spark.conf.set(_USER_METADATA_CONF, user_metadata)
            try:
                spark.sql(
                    f"CREATE TABLE {output_ref(out)} USING delta{partitioned}"
                    f"{f' TBLPROPERTIES ({pairs})' if pairs else ''} AS SELECT * FROM {view}"
                )
            finally:
                spark.conf.unset(_USER_METADATA_CONF)
    finally:
        spark.catalog.dropTempView(view)


def _quote_name(name: str) -> str:
    """A column name in SQL: always backticks, so a space, a dot or a keyword is one name."""
    return backtick(name)


def _quote_text(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def latest_version(spark: SparkSession, out: OutputConfig) -> int | None:
    """The latest Delta version of the output, or None if it does not exist."""
    return delta_log.latest_version(spark, output_ref(out), out.path)


def set_table_properties(
    spark: SparkSession,
    out: OutputConfig,
    props: dict[str, str],
    prefix: str = "imbalance_spark.",
    current: dict[str, str] | None = None,
) -> bool:
    """Make the table's ``prefix`` properties equal ``props``; commits only when they change.

    ``current`` holds the table's properties when already known (else the table's metadata is read).
    """
    if current is None:
        detail = table_detail(spark, output_ref(out))
        current = detail.properties if detail is not None else {}
    current = {k: v for k, v in current.items() if k.startswith(prefix)}
    if current == props:
        return False
    name = output_ref(out)

    stale = sorted(set(current) - set(props))
    if stale:
        spark.sql(f"ALTER TABLE {name} UNSET TBLPROPERTIES IF EXISTS ({', '.join(_quote_text(k) for k in stale)})")
    changed = {k: v for k, v in props.items() if current.get(k) != v}
    if changed:
        pairs = ", ".join(f"{_quote_text(k)} = {_quote_text(v)}" for k, v in sorted(changed.items()))
        spark.sql(f"ALTER TABLE {name} SET TBLPROPERTIES ({pairs})")
    return True
