"""``imbalance-spark validate``: the config, its folder's other configs, and the input's columns, without Spark.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path

from imbalance_spark.config.folder import sibling_clashes
from imbalance_spark.config.input_schema import InputColumns, delta_columns, parquet_columns
from imbalance_spark.config.load import is_uri, load_config
from imbalance_spark.config.messages import config_error, problems_error
from imbalance_spark.config.models import JobConfig
from imbalance_spark.errors import InputError


@dataclass(frozen=True)
class Validation:
    """A config that passed, and what was not checked (one line each)."""

    cfg: JobConfig
    notes: list[str] = field(default_factory=list)


def configured_columns(cfg: JobConfig) -> list[tuple[str, str]]:
    """Every (key, column) of the config that must be a column of the input."""
    pairs = [("label_column", cfg.label_column)]
    if cfg.weight.source_column is not None:
        pairs.append(("weight.source_column", cfg.weight.source_column))
    pairs += [("downsampling.key_columns", c) for c in cfg.downsampling.key_columns]
    if cfg.input.date_column is not None:
        pairs.append(("input.date_column", cfg.input.date_column))
    pairs += [("output.partition_by", c) for c in cfg.output.partition_by]
    if isinstance(cfg.output.stats_columns, list):
        pairs += [("output.stats_columns", c) for c in cfg.output.stats_columns if c != cfg.weight.column]
    if cfg.evaluate is not None:
        pairs += [("evaluate.features", c) for c in cfg.evaluate.features]
        pairs += [("evaluate.split.key_columns", c) for c in cfg.evaluate.split.key_columns]
    return pairs


def _suggestion(column: str, columns: list[str]) -> str:
    same_case = [c for c in columns if c.casefold() == column.casefold()]
    if same_case:
        return f"; did you mean {same_case[0]!r}? (column names in the config must match the data's case)"
    close = difflib.get_close_matches(column, columns, n=1)
    return f"; did you mean {close[0]!r}?" if close else f" (columns: {', '.join(columns)})"


def missing_columns(cfg: JobConfig, columns: list[str]) -> list[str]:
    """One line per configured column the input does not hold, with a close name when there is one."""
    where = cfg.redact(cfg.input.path or "")
    return [
        f"{key}: column {column!r} is not in input {where}{_suggestion(column, columns)}"
        for key, column in configured_columns(cfg)
        if column not in columns
    ]


def _read_columns(cfg: JobConfig) -> InputColumns:
    """The local input's columns (its existence and format checked first, as ``run`` does)."""
    src = cfg.input
    path = src.path
    if not os.path.exists(path):
        raise InputError(f"input.path: {cfg.redact(path)} does not exist; point input.path at an existing table")
    is_delta = (Path(path) / "_delta_log").is_dir()
    if src.format == "delta":
        if not is_delta:
            raise InputError(
                f"input.path: {cfg.redact(path)} is not a Delta table (no _delta_log); "
                "set input.format to parquet or csv if that is what it holds"
            )
        if src.timestamp is not None:
            return InputColumns(None, "it is pinned to a timestamp (run resolves it)")
        return delta_columns(path, src.version)
    if is_delta:
        raise InputError(
            f"input.path: {cfg.redact(path)} is a Delta table (a transaction log was found); reading it as"
            f" {src.format} would include files the table has removed; set input.format: delta"
        )
    if src.format == "parquet":
        return parquet_columns(path)
    return InputColumns(None, "a CSV header is read by Spark")


def check_input(cfg: JobConfig, source: str) -> list[str]:
    """Check the configured columns against a local Delta or Parquet input; the notes of what was not checked."""
    src = cfg.input
    if src.table is not None:
        return [f"input columns not checked: table {src.table} is in a catalog (run checks them once Spark starts)"]
    if is_uri(src.path):
        return [f"input columns not checked: {cfg.redact(src.path)} is remote (run checks them once Spark starts)"]
    try:
        found = _read_columns(cfg)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
    if found.columns is None:
        return [f"input columns not checked: {cfg.redact(src.path)}: {found.reason}"]
    problems = missing_columns(cfg, found.columns)
    if problems:
        raise problems_error(InputError, source, problems)
    return []


def validate_file(path: str | os.PathLike[str]) -> Validation:
    """Everything ``validate`` checks of one config file; raises with every problem, one line each."""
    p = Path(path)
    cfg = load_config(p)
    clashes = sibling_clashes(p, cfg)
    if clashes:
        raise config_error(str(p), [c.split(": ", 1)[1] for c in clashes])
    return Validation(cfg, check_input(cfg, str(p)))
