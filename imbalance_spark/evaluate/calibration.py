"""Calibration per test day and per segment value: one Spark aggregation per scored model.

The scored test rows carry the row's day and segment values; counting each row once per dimension
(an explode) and grouping by (dimension, value) gives every table at once.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from imbalance_spark.common.names import backtick
from imbalance_spark.config.models import JobConfig
from imbalance_spark.errors import DataFrameMissingColumnError, InputError
from imbalance_spark.transform import column

# The scored test rows carry the row's day and its value of each segment column in these columns
# (flat, so the cached scored slice compresses them); the segment's name follows the prefix.
DAY_COLUMN = "__day"


SEGMENT_PREFIX = "__segment:"


_NESTED = (T.MapType, T.ArrayType, T.StructType, T.VariantType, T.BinaryType)


def segment_columns(cfg: JobConfig) -> list[str]:
    """The columns the test slice's calibration is grouped by, besides the day.

    ``evaluate.segments``; unset, the output's strata (``downsampling.strata``): each stratum's
    calibration is then checked as a segment's (``segments: []`` turns the grouping off).
    """
    if cfg.evaluate.segments is not None:
        return list(cfg.evaluate.segments)
    return list(cfg.downsampling.strata)


def group_dimensions(cfg: JobConfig) -> tuple[str | None, list[str]]:
    """The date column (None without one) and the segment columns: what the scored rows carry."""
    return cfg.input.date_column, segment_columns(cfg)


def with_calibration_groups(df: DataFrame, cfg: JobConfig) -> DataFrame:
    """Add the row's day (with a date column) and its segment values, as the columns :func:`carried` names."""
    date_column, segments = group_dimensions(cfg)
    cols = [F.to_date(column(date_column)).alias(DAY_COLUMN)] if date_column else []
    cols += [column(name).alias(SEGMENT_PREFIX + name) for name in segments]
    return df.select("*", *cols) if cols else df


def carried(df: DataFrame) -> tuple[str, ...]:
    """The day and segment columns ``df`` has, quoted: for a select that must keep them beside the scores."""
    return tuple(backtick(c) for c in _group_columns(df))


def _group_columns(df: DataFrame) -> list[str]:
    return [c for c in df.columns if c == DAY_COLUMN or c.startswith(SEGMENT_PREFIX)]


def group_calibration(pred_df: DataFrame, label: str, score: str) -> dict[str, Any]:
    """``calibration_by_day`` and ``calibration_by_segment`` of the scored rows, from one aggregation.

    Each row is counted once per dimension (its day, each segment column's value: an explode), and
    one groupBy sums rows, positives (the 0/1 ``label``) and ``score`` per (dimension, value): only
    that small table reaches the driver. A key is None when the rows carry no such dimension.
    """
    dims = _group_columns(pred_df)
    if not dims:
        return {}
    pairs = [F.struct(F.lit(i).alias("dim"), F.col(backtick(c)).cast("string").alias("value"))
             for i, c in enumerate(dims)]
    rows = (
        pred_df.select(F.explode(F.array(*pairs)).alias("g"), F.col(label).alias("y"), F.col(score).alias("p"))
        .groupBy(F.col("g.dim").alias("dim"), F.col("g.value").alias("value"))
        .agg(F.count(F.lit(1)).alias("rows"), F.sum("y").alias("positives"), F.sum("p").alias("sum_p"))
        .collect()
    )
    tables: dict[str, list[dict[str, Any]]] = {c: [] for c in dims}
    for r in sorted(rows, key=lambda r: (r["dim"], r["value"] is None, r["value"] or "")):
        tables[dims[r["dim"]]].append(_group_numbers(r))
    by_day = [{"date": g.pop("value")} | g for g in tables.pop(DAY_COLUMN)] if DAY_COLUMN in tables else None
    by_segment = {c.removeprefix(SEGMENT_PREFIX): values for c, values in tables.items()}
    return {"calibration_by_day": by_day, "calibration_by_segment": by_segment or None}


def _group_numbers(r) -> dict[str, Any]:
    rows, positives, sum_p = int(r["rows"]), int(r["positives"] or 0), float(r["sum_p"] or 0.0)
    return {
        "value": r["value"],
        "rows": rows,
        "positives": positives,
        "mean_prediction": sum_p / rows,
        # mean p over the observed rate: (sum p / rows) / (positives / rows)
        "calibration_ratio": sum_p / positives if positives else None,
    }


def check_segments(test_df: DataFrame, cfg: JobConfig) -> None:
    """Refuse, in one line, a segment column that is missing, nested, the label, or has too many values.

    One aggregation over the test slice counts each column's distinct values (nulls are one more).
    """
    segments = segment_columns(cfg)
    if not segments:
        return
    fields = {f.name: f.dataType for f in test_df.schema.fields}
    for name in segments:
        if name not in fields:
            raise DataFrameMissingColumnError(f"evaluate.segments: column {name!r} is not in the input")
        if name == cfg.label_column:
            raise InputError(
                f"evaluate.segments: {name!r} is the label_column; calibration per label value is not defined"
                " (its observed rate is 0 or 1); name another column"
            )
        if isinstance(fields[name], _NESTED):
            raise InputError(
                f"evaluate.segments: column {name!r} has type {fields[name].simpleString()}; expected a column"
                " of plain values (a string, number, boolean or date)"
            )
    counts = test_df.agg(*[
        (F.count_distinct(column(n)) + F.max(column(n).isNull().cast("int"))).alias(f"n{i}")
        for i, n in enumerate(segments)
    ]).first()
    limit = cfg.evaluate.max_segment_values
    for i, name in enumerate(segments):
        distinct = int(counts[f"n{i}"] or 0)
        if distinct > limit:
            raise InputError(
                f"evaluate.segments: column {name!r} has {distinct:,} distinct values in the test slice, more than"
                f" evaluate.max_segment_values {limit:,}; segment by a coarser column (a region, a channel) or"
                " raise evaluate.max_segment_values"
            )
