"""Write the sample as a partitioned Delta table, in one commit, with the run in userMetadata.

The one place where output is written.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from dataclasses import dataclass

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

from imbalance_spark import delta_log
from imbalance_spark.config import HistoryConfig, OutputConfig, RunDates, redact
from imbalance_spark.delta_log import TableDetail, delta_ref, error_condition, is_connect, table_detail
from imbalance_spark.errors import ConfigError, OutputError

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

    Looked up once (``DESCRIBE DETAIL``, and the schema of an existing table) and handed to the
    steps that need it, rather than each asking the Delta log again.
    """

    detail: TableDetail | None
    schema: T.StructType | None = None

    @property
    def exists(self) -> bool:
        return self.detail is not None


def find_output(spark: SparkSession, out: OutputConfig) -> OutputTable:
    """Look the output up once: whether it is a Delta table, its partitioning, properties and schema."""
    ref = _identifier(out)
    detail = table_detail(spark, ref)
    if detail is None:
        if out.table is not None and spark.catalog.tableExists(out.table):
            raise OutputError(f"output.table: {out.table} exists and is not a Delta table; refusing to overwrite it")
        return OutputTable(detail=None)
    return OutputTable(detail=detail, schema=spark.sql(f"SELECT * FROM {ref}").schema)


def output_exists(spark: SparkSession, out: OutputConfig) -> bool:
    """Whether the output Delta table already exists (one look-up of its log)."""
    return table_detail(spark, _identifier(out)) is not None


def check_output(spark: SparkSession, out: OutputConfig, mode: str) -> OutputTable:
    """Fail before any work when the configured output cannot be written; return what was found."""
    found = find_output(spark, out)
    if mode == "error_if_exists" and found.exists:
        raise OutputError(f"output: {describe_output(out)} already exists and output.mode is error_if_exists")
    if out.path and not found.exists and _holds_files(spark, out.path):
        raise OutputError(
            f"output.path: {describe_output(out)} exists and is not a Delta table; refusing to overwrite it"
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
            f" ALTER TABLE {redact(_identifier(out))} SET TBLPROPERTIES ('{COLUMN_MAPPING_PROPERTY}' = 'name')"
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


def check_output_schema(
    spark: SparkSession, out: OutputConfig, df: DataFrame, mode: str, found: OutputTable | None = None
) -> dict[str, str]:
    """Compare an existing table's schema and partitioning with ``df``; return the write options.

    A mismatch is an error unless ``output.schema_evolution: merge``.
    """
    found = found if found is not None else find_output(spark, out)
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
    dtype = df.schema[date_column].dataType
    col = "`" + date_column.replace("`", "``") + "`"
    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType)):
        after = dates.end + dt.timedelta(days=1)
        return f"{col} >= '{dates.start} 00:00:00' AND {col} < '{after} 00:00:00'"
    if isinstance(dtype, T.DateType):
        return f"{col} >= DATE'{dates.start}' AND {col} <= DATE'{dates.end}'"
    # ISO text up to the next day, as transform.filter_dates selects it
    return f"{col} >= '{dates.start}' AND {col} < '{dates.end + dt.timedelta(days=1)}'"


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
    plain = name.isascii() and name.replace("_", "a").isalnum() and not name[0].isdigit()
    return name if plain else "`" + name.replace("`", "``") + "`"


def write_delta(
    df: DataFrame,
    out: OutputConfig,
    user_metadata: str,
    properties: dict[str, str] | None = None,
    *,
    mode: str = "overwrite",
    where: str | None = None,
    options: dict[str, str] | None = None,
    found: OutputTable | None = None,
) -> None:
    """Write ``df`` as Delta to the configured path or table in one commit.

    A new table is created with ``properties`` in that same commit (and Delta column mapping when a
    column name needs it, see :func:`check_column_names`); an existing one is
    overwritten (one commit) and its properties are altered only when they changed: the statistics
    columns before the write (they decide how its files are written), the rest after it.
    ``found`` is the output as :func:`check_output` found it (looked up again when not given).
    """
    spark = df.sparkSession
    stats = {k: v for k, v in (properties or {}).items() if k == STATS_PROPERTY}
    properties = {k: v for k, v in (properties or {}).items() if k != STATS_PROPERTY} or None
    current = None
    try:
        if properties or stats or names_needing_mapping(df.schema):
            found = found if found is not None else find_output(spark, out)
            if not found.exists:
                _create_with_properties(df, out, user_metadata, {**(properties or {}), **stats})
                return
            current = found.detail.properties
            set_table_properties(spark, out, stats, prefix=STATS_PROPERTY, current=current)
        if out.table is not None and found is None:
            found = find_output(spark, out)
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
        first = str(exc).strip().splitlines()[0]
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


_USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"


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


def _identifier(out: OutputConfig) -> str:
    return delta_ref(out.path, out.table)


def _create_with_properties(df: DataFrame, out: OutputConfig, user_metadata: str, properties: dict[str, str]) -> None:
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
    spark.conf.set(_USER_METADATA_CONF, user_metadata)
    try:
        spark.sql(
            f"CREATE TABLE {_identifier(out)} USING delta{partitioned}"
            f"{f' TBLPROPERTIES ({pairs})' if pairs else ''} AS SELECT * FROM {view}"
        )
    finally:
        spark.conf.unset(_USER_METADATA_CONF)
        spark.catalog.dropTempView(view)


def _quote_name(name: str) -> str:
    """A column name in SQL: always backticks, so a space, a dot or a keyword is one name."""
    return "`" + name.replace("`", "``") + "`"


def _quote_text(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def latest_version(spark: SparkSession, out: OutputConfig) -> int | None:
    """The latest Delta version of the output, or None if it does not exist."""
    return delta_log.latest_version(spark, _identifier(out), out.path)


def set_table_properties(
    spark: SparkSession,
    out: OutputConfig,
    props: dict[str, str],
    prefix: str = "imbalance_spark.",
    current: dict[str, str] | None = None,
) -> bool:
    """Make the table's ``prefix`` properties equal ``props``; commits only when they change.

    ``current`` holds the table's properties when already known (else ``DESCRIBE DETAIL`` is asked).
    """
    if current is None:
        detail = table_detail(spark, _identifier(out))
        current = detail.properties if detail is not None else {}
    current = {k: v for k, v in current.items() if k.startswith(prefix)}
    if current == props:
        return False
    name = _identifier(out)

    stale = sorted(set(current) - set(props))
    if stale:
        spark.sql(f"ALTER TABLE {name} UNSET TBLPROPERTIES IF EXISTS ({', '.join(_quote_text(k) for k in stale)})")
    changed = {k: v for k, v in props.items() if current.get(k) != v}
    if changed:
        pairs = ", ".join(f"{_quote_text(k)} = {_quote_text(v)}" for k, v in sorted(changed.items()))
        spark.sql(f"ALTER TABLE {name} SET TBLPROPERTIES ({pairs})")
    return True


HISTORY_SCHEMA = (
    "dataset string, run_id string, run_date date, run_end_date date, class string, input_count long,"
    " share double, degree string, output_count long, weight_sum double, factor double,"
    " input_version long, recorded_at timestamp"
)


def append_history(spark: SparkSession, history: HistoryConfig, rows: list[dict]) -> None:
    """Append one row per class to the class-proportion history table (created on first use)."""
    df = spark.createDataFrame(rows, HISTORY_SCHEMA)
    writer = df.write.format("delta").mode("append")
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
