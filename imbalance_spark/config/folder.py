"""The dataset YAMLs of one folder (conf/datasets/): no two may share a dataset name or an output.

``validate`` checks a config against the others of its folder; the Airflow DAG file keeps the
first of two configs with one dataset name (one DAG id) and reports the other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from imbalance_spark.config.load import absolute_path
from imbalance_spark.config.models import JobConfig, ScheduleConfig
from imbalance_spark.config.scheduler import load_schedule, yaml_mapping
from imbalance_spark.errors import ConfigError


@dataclass(frozen=True)
class ConfigIdentity:
    """What must be unique among a folder's configs: the dataset name and the output it writes."""

    path: Path
    dataset: str | None
    # "output.path /abs/path" or "output.table db.name" (None: not readable from the file)
    output: str | None


@dataclass(frozen=True)
class ScheduledDataset:
    """A config of the folder that the DAG file may schedule: its file, dataset name and schedule."""

    path: Path
    dataset: str
    schedule: ScheduleConfig


def dataset_files(folder: Path) -> list[Path]:
    """The dataset YAMLs of ``folder`` (``*.yaml`` and ``*.yml``), sorted."""
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def _output_of(path: str | None, table: str | None) -> str | None:
    if isinstance(path, str):
        expanded = os.path.expandvars(path)
        return None if "$" in expanded else f"output.path {absolute_path(expanded)}"
    if isinstance(table, str):
        return f"output.table {table.casefold()}"
    return None


def identity_of_file(path: Path) -> ConfigIdentity | None:
    """The identity read cheaply from a YAML's raw keys (None: not a readable mapping)."""
    try:
        data = yaml_mapping(path)
    except ConfigError:
        return None
    output = data.get("output") if isinstance(data.get("output"), dict) else {}
    dataset = data.get("dataset") if isinstance(data.get("dataset"), str) else None
    try:
        out = _output_of(output.get("path"), output.get("table"))
    except (ValueError, OSError):  # not a usable path: the config's own validation says so
        out = None
    return ConfigIdentity(path, dataset, out)


def identity_of_config(path: Path, cfg: JobConfig) -> ConfigIdentity:
    """The identity of a loaded, validated config."""
    return ConfigIdentity(path, cfg.dataset, _output_of(cfg.output.path, cfg.output.table))


def clashes(one: ConfigIdentity, other: ConfigIdentity) -> list[str]:
    """One line per clash of ``one`` with ``other``, naming both files and the fix."""
    lines = []
    if one.dataset is not None and one.dataset == other.dataset:
        lines.append(
            f"{one.path}: dataset {one.dataset!r} is also the dataset of {other.path};"
            " give each config its own dataset name (and output)"
        )
    if one.output is not None and one.output == other.output:
        lines.append(
            f"{one.path}: {one.output} is also written by {other.path}; give each config its own output"
        )
    return lines


def sibling_clashes(path: Path, cfg: JobConfig) -> list[str]:
    """The clashes of the config at ``path`` with every other dataset YAML of its folder."""
    me = identity_of_config(path, cfg)
    lines = []
    for other_path in dataset_files(path.resolve().parent):
        if other_path.resolve() == path.resolve():
            continue
        other = identity_of_file(other_path)
        if other is not None:
            lines.extend(clashes(me, other))
    return lines


def scan_datasets(folder: Path) -> tuple[list[ScheduledDataset], list[str]]:
    """The folder's configs the DAG file may use, and one line per config it must not.

    A config is left out when its dataset name or schedule is bad, or when an earlier file (in
    name order) has its dataset name, which is its DAG id. Shared outputs are ``validate``'s to
    refuse: the DAG file reads no more of a YAML than it needs.
    """
    kept: list[ScheduledDataset] = []
    problems: list[str] = []
    for path in dataset_files(folder):
        try:
            dataset, schedule = load_schedule(path)
        except ConfigError as exc:
            problems.extend(getattr(exc, "lines", None) or [str(exc)])
            continue
        first = next((k for k in kept if k.dataset == dataset), None)
        if first is not None:
            problems.extend(clashes(ConfigIdentity(path, dataset, None), ConfigIdentity(first.path, dataset, None)))
            continue
        kept.append(ScheduledDataset(path, dataset, schedule))
    return kept, problems
