"""The run report and the profile summary as typed, frozen models.

Built in report/build.py; serialised by ``as_dict()``/``to_json()`` with the keys, in the order, of the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class InputClass:
    """One class of the input: its rows, its share of the rows and its weight total."""

    count: int
    share: float
    weight_sum: float

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "share": self.share, "weight_sum": self.weight_sum}


@dataclass(frozen=True)
class InputSection:
    """The input half of a report: rows, null labels dropped, per-class counts (and where, in a run)."""

    rows: int
    null_labels_dropped: int
    classes: Mapping[str, InputClass]
    source: str | None = None  # the run report names the input; the profile summary does not

    def as_dict(self) -> dict[str, Any]:
        head = {"source": self.source} if self.source is not None else {}
        return head | {
            "rows": self.rows,
            "null_labels_dropped": self.null_labels_dropped,
            "classes": {k: c.as_dict() for k, c in self.classes.items()},
        }


@dataclass(frozen=True)
class OutputClass:
    """One class of the output: rows written, rows the plan expected, weight total written."""

    count: int
    expected_count: float
    weight_sum: float

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "expected_count": self.expected_count, "weight_sum": self.weight_sum}


@dataclass(frozen=True)
class OutputSection:
    """What was written: rows and per-class counts, and where (target, Delta version, mode)."""

    rows: int
    minority_share: float
    classes: Mapping[str, OutputClass]
    target: str
    version: int | None
    partition_by: tuple[str, ...]
    mode: str
    replace_where: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "minority_share": self.minority_share,
            "classes": {k: c.as_dict() for k, c in self.classes.items()},
            "target": self.target,
            "version": self.version,
            "partition_by": list(self.partition_by),
            "mode": self.mode,
            "replace_where": self.replace_where,
        }


@dataclass(frozen=True)
class Spread:
    """The smallest, median and largest of one number over the output's files."""

    min: float
    median: float
    max: float

    def as_dict(self) -> dict[str, Any]:
        return {"min": self.min, "median": self.median, "max": self.max}


@dataclass(frozen=True)
class FileCounts:
    """One output file as read back in file order: rows, minority rows, bytes, batches holding a minority row."""

    rows: int
    minority_rows: int
    size: int
    batches_with_minority: int


@dataclass(frozen=True)
class OutputFiles:
    """The files the run wrote as a trainer reading them in order meets them, batch by batch.

    ``random_share_without_minority`` is what random order within each file gives: a batch of b rows
    of a file whose minority share is p holds no minority row with probability (1-p)^b.
    """

    row_order: str
    files: int
    rows_per_file: Spread | None
    bytes_per_file: Spread | None
    minority_share: Spread | None
    batch_rows: int
    batches: int
    batches_without_minority: int
    share_without_minority: float | None
    random_share_without_minority: float | None
    # what random order over the whole output gives (each batch at the output's minority share):
    # below random_share_without_minority when files differ in share (files of one class)
    pooled_random_share_without_minority: float | None = None
    max_records_per_file: int | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class ReportDates:
    """The event dates a run covered (ISO days): its slice, or a whole table's span (None: no date column)."""

    start: str | None
    end: str | None
    sliced: bool

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "sliced": self.sliced}

    def label(self) -> str:
        """The slice as a name: ``2026-01-02``, ``2026-01-01..2026-01-03``, or ``all`` for a whole table."""
        if not self.sliced or self.start is None:
            return "all"
        return self.start if self.start == self.end else f"{self.start}..{self.end}"


@dataclass(frozen=True)
class Lineage:
    """What a run read (pinned version), with which config, for which dates."""

    run_id: str
    package_version: str
    config_file: str | None
    config_sha256: str | None
    input_source: str
    input_version: int | None
    run_dates: ReportDates


@dataclass(frozen=True)
class Guards:
    """The sample guards of the run."""

    enabled: bool
    sigmas: float

    def as_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "sigmas": self.sigmas}


@dataclass(frozen=True)
class MlflowRef:
    """Where the run was recorded in MLflow."""

    experiment: str
    experiment_id: str
    run_id: str
    tracking_uri: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "experiment_id": self.experiment_id,
            "run_id": self.run_id,
            "tracking_uri": self.tracking_uri,
        }


@dataclass(frozen=True)
class IncrementalSection:
    """What an incremental run (``run --incremental``) read and added, summed over its micro-batches."""

    checkpoint: str
    txn_app_id: str
    batches: int  # micro-batches this run wrote
    batch_ids: list[int]
    # batches a killed run had committed already: retried, skipped by Delta (txnAppId/txnVersion), not counted
    replayed_batch_ids: list[int]
    input_version_from: int | None
    input_version_to: int | None
    output_version_before: int | None
    changes: str
    max_files_per_batch: int | None
    max_bytes_per_batch: int | str | None

    def as_dict(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class StratumClass:
    """One class of one stratum: its factor, what was read and what the checked sample wrote."""

    role: str
    factor: float
    fraction: float
    input_count: int
    input_weight_sum: float
    output_count: int | None  # None: not counted (guards off and a derived factor)
    expected_count: float
    weight_multiplier: float
    weight_sum: float  # the output's weight total of the class in the stratum
    logit_offset: float | None  # ln(1/F) of a downsampled class, else None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class StratumReport:
    """One stratum: its values, its class table, its balance before and after."""

    key: str  # "country=DE, channel=web"
    values: Mapping[str, str | None]
    rows: int
    output_rows: int | None  # None: not known yet (the profile of a derived factor)
    minority_share: float
    output_minority_share: float | None
    degree: str
    derived_factor: float | None
    classes: Mapping[str, StratumClass]

    def as_dict(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class StrataSection:
    """A stratified run (``downsampling.strata``): its columns and a class table per stratum."""

    columns: list[str]
    max_strata: int
    strata: list[StratumReport]

    def as_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "max_strata": self.max_strata, "strata": _plain(self.strata)}


@dataclass(frozen=True)
class RunReport:
    """The report of one run: the plan, what was read and written, the lineage and the stage times."""

    dataset: str
    run_id: str
    package_version: str
    config_file: str | None
    config_sha256: str | None
    input_version: int | None
    run_dates: ReportDates
    started_at: str
    label_column: str
    degree: str
    minority_share: float
    minority_classes: list[str]
    majority_classes: list[str]
    method: str
    seed: int
    factors: Mapping[str, float]
    fractions: Mapping[str, float]
    derived_factor: float | None
    target_minority_share: float | None
    skipped: str | None
    realized_factors: Mapping[str, float | None]
    weight_multipliers: Mapping[str, float]
    # King & Zeng (2001) prior correction for consumers that ignore the weights: add ln(1/F) to
    # the logit of a (minority vs class c) model trained on the sample.
    logit_offsets: Mapping[str, float]
    absent_classes: list[str]
    weight_column: str
    weight_mode: str
    weight_source_column: str | None
    key_columns: list[str]
    guards: Guards
    input: InputSection
    output: OutputSection
    classes: list[str]
    stages_s: Mapping[str, float]
    duration_s: float
    config: Mapping[str, Any]
    notes: list[str] = field(default_factory=list)
    mlflow: MlflowRef | None = None
    figures: Mapping[str, str] | None = None
    incremental: IncrementalSection | None = None  # only in the report of ``run --incremental``
    # the output's files in file order (None: not measured, e.g. a report built without a write; not in the JSON)
    output_files: OutputFiles | None = None
    strata: StrataSection | None = None  # only in a stratified run

    def as_dict(self) -> dict[str, Any]:
        """The report as the JSON document's dict (the optional sections only when set)."""
        doc: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name in ("mlflow", "figures", "incremental", "output_files", "strata") and value is None:
                continue
            doc[name] = _plain(value)
        return doc

    def to_json(self, indent: int | None = 2) -> str:
        """The report as JSON text."""
        return json.dumps(self.as_dict(), indent=indent, default=str)


@dataclass(frozen=True)
class ProfileSummary:
    """What ``profile`` prints: the degree, the per-class counts, the plan's factors and a hint."""

    dataset: str
    label_column: str
    run_dates: str | None
    input_version: int | None
    degree: str
    minority_share: float
    minority_classes: list[str]
    majority_classes: list[str]
    factors: Mapping[str, float]
    input: InputSection
    hint: str
    stages_s: Mapping[str, float]
    duration_s: float
    strata: StrataSection | None = None  # only with downsampling.strata

    def as_dict(self) -> dict[str, Any]:
        """The summary as the JSON document's dict (``strata`` only when set)."""
        return {
            name: _plain(getattr(self, name))
            for name in self.__dataclass_fields__
            if not (name == "strata" and self.strata is None)
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The summary as JSON text."""
        return json.dumps(self.as_dict(), indent=indent)


def _plain(value: Any) -> Any:
    """A model field as plain JSON values: nested models by their ``as_dict``, containers copied."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value
