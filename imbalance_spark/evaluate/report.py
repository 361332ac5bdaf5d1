"""The evaluation report as typed, frozen records, and their JSON form (the keys of ``evaluate.json``).

Readers (the console table, the figures, MLflow, the CLI) use attributes; ``to_dict`` is the only
way to the JSON, and ``from_dict`` reads a written report back.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# A field with this metadata is left out of the JSON when it is None (today's report has no key then).
OMIT_IF_NONE = {"omit_if_none": True}


@dataclass(frozen=True)
class ClassCount:
    """One class of a slice or a sample: its role, rows and weighted total."""

    role: str
    count: int | None
    weight_sum: float | None


@dataclass(frozen=True)
class CalibrationBin:
    """One equal-mass bin of the predictions: rows, mean prediction, observed positive rate."""

    rows: int
    mean_prediction: float
    observed_rate: float


@dataclass(frozen=True)
class DayCalibration:
    """One test day: rows, positives, mean prediction and its ratio to the day's observed rate."""

    date: str
    rows: int
    positives: int
    mean_prediction: float
    calibration_ratio: float | None  # mean p / observed rate; None on a day without positives


@dataclass(frozen=True)
class SegmentCalibration:
    """One value of a segment column on the test slice: the same numbers as a day's."""

    value: str | None  # the value as a string (None: the rows where the column is null)
    rows: int
    positives: int
    mean_prediction: float
    calibration_ratio: float | None


@dataclass(frozen=True)
class BootstrapResult:
    """The paired bootstrap's binned PR-AUCs, their relative difference and its standard error."""

    binned_pr_auc: float | None
    binned_baseline_pr_auc: float | None
    binned_difference: float | None
    stderr: float | None
    replicates: int
    valid_replicates: int
    score_bins: int


@dataclass(frozen=True)
class PrAucComparison:
    """MLlib's relative PR-AUC difference to F = 1 and its 95% interval (None: no standard error)."""

    difference: float
    low: float | None
    high: float | None
    half_width: float | None
    bootstrap: BootstrapResult | None = None  # flattened into the JSON beside the four numbers

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the four numbers, then the bootstrap's fields (none for F = 1 itself)."""
        own = {"difference": self.difference, "low": self.low, "high": self.high, "half_width": self.half_width}
        return own | (to_json(self.bootstrap) if self.bootstrap is not None else {})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PrAucComparison:
        """Read the JSON form back."""
        boot = from_json(BootstrapResult, d) if "replicates" in d else None
        return cls(d["difference"], d["low"], d["high"], d["half_width"], boot)


@dataclass(frozen=True)
class VariantMetrics:
    """One model variant's test metrics and its fit."""

    rows: int
    positives: int
    base_rate: float
    mean_prediction: float
    calibration_ratio: float | None
    ece: float | None
    log_loss: float | None
    brier: float | None
    pr_auc: float | None
    roc_auc: float | None
    calibration_bins: tuple[CalibrationBin, ...]
    pr_auc_vs_f1: PrAucComparison | None
    train_seconds: float
    iterations: int | None
    # Whether it was compared with F = 1 (the weighted model, and every variant at F = 1): only then
    # has the JSON a ``pr_auc_vs_f1`` key.
    paired: bool = True
    # log loss over the entropy of the test base rate (He et al. 2014); in the JSON beside log_loss
    normalized_entropy: float | None = None
    # per test day (when the input has a date column) and per value of each evaluate.segments column;
    # no JSON key when None
    calibration_by_day: tuple[DayCalibration, ...] | None = None
    calibration_by_segment: Mapping[str, tuple[SegmentCalibration, ...]] | None = None

    @classmethod
    def of(cls, metrics: Mapping[str, Any], comparison: PrAucComparison | None, *, paired: bool,
           train_seconds: float, iterations: int | None) -> VariantMetrics:
        """From :func:`~imbalance_spark.evaluate.metrics.prediction_metrics`' numbers and the fit's."""
        bins = tuple(CalibrationBin(**b) for b in metrics["calibration_bins"])
        names = [f.name for f in dataclasses.fields(cls)][:10]
        days, segments = metrics.get("calibration_by_day"), metrics.get("calibration_by_segment")
        return cls(**{k: metrics[k] for k in names}, calibration_bins=bins, pr_auc_vs_f1=comparison,
                   train_seconds=train_seconds, iterations=iterations, paired=paired,
                   normalized_entropy=metrics.get("normalized_entropy"),
                   calibration_by_day=None if days is None else tuple(DayCalibration(**d) for d in days),
                   calibration_by_segment=None if segments is None else {
                       c: tuple(SegmentCalibration(**v) for v in values) for c, values in segments.items()})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (no ``pr_auc_vs_f1`` key when the variant was not compared with F = 1)."""
        d: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("paired", "normalized_entropy") or (f.name.startswith("calibration_by_") and value is None):
                continue
            d[f.name] = to_json(value)
            if f.name == "log_loss":
                d["normalized_entropy"] = self.normalized_entropy
        if not self.paired:
            del d["pr_auc_vs_f1"]
        return d

    def calibration_groups(self) -> list[tuple[str, str | None, DayCalibration | SegmentCalibration]]:
        """Every day and segment value as (``day`` or the segment column, its date or value, its numbers)."""
        groups: list[tuple[str, str | None, DayCalibration | SegmentCalibration]] = [
            ("day", d.date, d) for d in self.calibration_by_day or ()]
        for column, values in (self.calibration_by_segment or {}).items():
            groups += [(column, v.value, v) for v in values]
        return groups

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VariantMetrics:
        """Read the JSON form back."""
        paired = "pr_auc_vs_f1" in d
        return from_json(cls, d, paired=paired, **({} if paired else {"pr_auc_vs_f1": None}))


@dataclass(frozen=True)
class SweepPoint:
    """One factor of the sweep: the job's sample at F, its size and the three variants' metrics."""

    factor: float
    train_rows: int
    sample_bytes: int
    logit_offset: float
    classes: Mapping[str, ClassCount]
    variants: Mapping[str, VariantMetrics]
    # seconds per step at this F (sample, fit_*, score_*, bootstrap, other): they sum to its wall time
    stages_s: Mapping[str, float] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """The wall time of this F."""
        return sum(self.stages_s.values())


@dataclass(frozen=True)
class FactorCheck:
    """The recommendation's checks of one F."""

    pr_auc_difference: float | None
    pr_auc_low: float | None
    pr_auc_high: float | None
    pr_auc_half_width: float | None
    pr_auc_status: str
    pr_auc_ok: bool
    resolvable: bool
    positives_to_resolve: int | None
    calibration_ratio: float | None
    calibrated: bool
    # the days and segment values with enough positives to tell (Recommendation.group_positives)...
    groups_checked: int = 0
    # ... those whose mean p / observed rate is off by more than calibration_tolerance, worst first
    groups_off: tuple[GroupOff, ...] = ()
    groups_calibrated: bool = True


@dataclass(frozen=True)
class GroupOff:
    """A day or segment value whose calibration is off by more than the band, with enough positives to tell."""

    by: str  # "day" or the segment column
    value: str | None
    positives: int
    calibration_ratio: float


@dataclass(frozen=True)
class Recommendation:
    """The recommended F (None: none), whether the data can support one, why, and each F's checks."""

    factor: float | None
    supported: bool
    reason: str
    needed_test_positives: int
    checks: Mapping[str, FactorCheck] = field(default_factory=dict)
    # a day or segment value is checked against the calibration band from this many positives
    group_positives: int | None = field(default=None, metadata=OMIT_IF_NONE)
    group_rule: str | None = field(default=None, metadata=OMIT_IF_NONE)


@dataclass(frozen=True)
class InputInfo:
    """What was read: where, which Delta version, which dates, and how it was kept."""

    source: str
    version: int | None
    run_dates: str | None
    read_once: bool
    storage_level: str
    persisted: str


@dataclass(frozen=True)
class Presample:
    """The uniform pre-sample of a train slice larger than ``split.train_max_rows``."""

    max_rows: int
    rows_before: int
    fraction: float


@dataclass(frozen=True)
class SplitInfo:
    """How the test slice was held out."""

    by: str
    test_from: str | None
    test_fraction: float | None
    key_columns: tuple[str, ...]
    seed: int
    train_presample: Presample | None


@dataclass(frozen=True)
class NullsInfo:
    """Null features: the policy, the rows and columns with nulls, and how many rows were dropped."""

    policy: str
    rows_with_nulls: Mapping[str, int]
    by_column: Mapping[str, int]
    dropped: int
    how: str


@dataclass(frozen=True)
class FeaturesInfo:
    """The features by kind and their nulls."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    nulls: NullsInfo


@dataclass(frozen=True)
class TrainSide:
    """The train slice's rows and classes."""

    rows: int
    classes: Mapping[str, ClassCount]


@dataclass(frozen=True)
class TestSide:
    """The test slice's rows, positives, base rate and classes."""

    __test__ = False  # not a pytest class

    rows: int
    positives: int
    base_rate: float | None
    classes: Mapping[str, ClassCount]


@dataclass(frozen=True)
class BootstrapInfo:
    """How the paired bootstrap was set up."""

    replicates: int
    seed: int
    score_bins: int
    row_id: str
    interval: str


@dataclass(frozen=True)
class CalibrationGroupsInfo:
    """What the test slice's calibration is grouped by: its days (the date column) and segment columns."""

    date_column: str | None
    segments: tuple[str, ...]
    max_segment_values: int


@dataclass(frozen=True)
class EvaluationReport:
    """The whole evaluation, in the order of ``evaluate.json``'s keys."""

    kind: str
    dataset: str
    package_version: str
    config_file: str | None
    config_sha256: str | None
    created_at: str
    label_column: str
    positive_classes: tuple[str, ...]
    model: str
    method: str
    seed: int
    weight_column: str
    input: InputInfo
    split: SplitInfo
    features: FeaturesInfo
    train: TrainSide
    test: TestSide
    factors: tuple[float, ...]
    configured_factor: float | None
    reliability_factor: float
    tolerance: float
    calibration_tolerance: float
    bins: int
    bootstrap: BootstrapInfo
    sweep: tuple[SweepPoint, ...]
    recommendation: Recommendation
    notes: tuple[str, ...]
    figures: Mapping[str, str] | None = field(default=None, metadata=OMIT_IF_NONE)
    stages_s: Mapping[str, float] = field(default_factory=dict)
    duration_s: float = 0.0
    # duration_s less the stages: what no stage accounts for (logging, the report itself)
    unaccounted_s: float = 0.0
    mlflow: Mapping[str, str] | None = field(default=None, metadata=OMIT_IF_NONE)
    calibration_groups: CalibrationGroupsInfo | None = field(default=None, metadata=OMIT_IF_NONE)

    def point(self, factor: float) -> SweepPoint:
        """The sweep's point at ``factor``."""
        return next(s for s in self.sweep if float(s.factor) == float(factor))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with today's keys."""
        return to_json(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EvaluationReport:
        """Read ``evaluate.json`` back."""
        return from_json(cls, d)


def to_json(value: Any) -> Any:
    """A record (and what it holds) as plain JSON values."""
    if _has_own_json(value):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (f.metadata.get("omit_if_none") and getattr(value, f.name) is None)
        }
    if isinstance(value, Mapping):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def _has_own_json(value: Any) -> bool:
    # records whose JSON is not field by field (EvaluationReport's to_dict is this function itself)
    return isinstance(value, (PrAucComparison, VariantMetrics))


def from_json(cls: type, d: Mapping[str, Any], **extra: Any) -> Any:
    """A record of ``cls`` from its JSON form (nested records, tuples and mappings by the type hints)."""
    hints = typing.get_type_hints(cls)
    values = {f.name: _read(hints[f.name], d[f.name]) for f in dataclasses.fields(cls) if f.name in d}
    return cls(**values, **extra)


def _read(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in args if a is not type(None)]
        return _read(inner, value)
    if dataclasses.is_dataclass(tp):
        return tp.from_dict(value) if "from_dict" in vars(tp) else from_json(tp, value)
    if origin is tuple:
        return tuple(_read(args[0], v) for v in value)
    if origin in (dict, Mapping):
        return {k: _read(args[1], v) for k, v in value.items()}
    return value
