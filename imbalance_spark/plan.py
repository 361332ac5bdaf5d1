"""Plan the sampling: from class counts and config to a keep fraction and weight per class.

Plain Python arithmetic, no Spark: every class seen in the data gets an explicit fraction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from imbalance_spark.common.names import label_key
from imbalance_spark.config.models import JobConfig
from imbalance_spark.profile import ClassProfile, ClassStats


def degree_of_imbalance(minority_rows: int, total_rows: int) -> str:
    """Degree by the minority share: extreme < 1% <= moderate < 20% <= mild <= 40% < none."""
    if total_rows <= 0:
        raise ValueError("total_rows must be positive")
    # Integer comparisons: a share of exactly 1%, 20% or 40% must not fall on the wrong side
    # through floating point.
    if minority_rows * 100 < total_rows:
        return "extreme"
    if minority_rows * 5 < total_rows:
        return "moderate"
    if minority_rows * 5 <= total_rows * 2:
        return "mild"
    return "none"


@dataclass(frozen=True)
class ClassPlan:
    """What happens to one class: its role, keep fraction and weight multiplier."""

    key: str
    value: Any
    role: str  # "minority" | "majority"
    count: int
    factor: float  # nominal factor F; 1.0 for classes kept whole
    fraction: float  # keep probability = 1 / F
    weight_sum: float  # input weight total (rows, or source weights)
    predicted_kept: int | None = None  # rows the sampler keeps, from a label-only pass
    predicted_kept_weight: float | None = None
    weight_mode: str = "nominal"

    @property
    def downsampled(self) -> bool:
        return self.factor > 1.0

    @property
    def expected_kept(self) -> float:
        return self.count * self.fraction

    @property
    def realized_factor(self) -> float | None:
        """Input weight over kept weight: the multiplier that restores the class total exactly."""
        if self.predicted_kept_weight is None:
            return None
        if not self.downsampled:
            return 1.0
        return self.weight_sum / self.predicted_kept_weight if self.predicted_kept_weight > 0 else None

    @property
    def multiplier(self) -> float:
        """The weight multiplier written: F (nominal) or the realized factor."""
        if self.weight_mode == "realized" and self.realized_factor is not None:
            return self.realized_factor
        return self.factor

    @property
    def logit_offset(self) -> float:
        """ln(1/F): the prior correction to add to the logit of a model trained unweighted."""
        return math.log(1.0 / self.factor)


@dataclass(frozen=True)
class SamplingPlan:
    """Per-class plan plus the balance summary of the input."""

    classes: tuple[ClassPlan, ...]
    minority_share: float
    degree: str
    derived_factor: float | None = None  # from target_minority_share
    skipped: str | None = None  # why nothing was downsampled
    absent_classes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def minority_keys(self) -> list[str]:
        return [c.key for c in self.classes if c.role == "minority"]

    @property
    def majority_keys(self) -> list[str]:
        return [c.key for c in self.classes if c.role == "majority"]

    @property
    def fractions(self) -> dict[Any, float]:
        """``sampleBy`` fractions keyed by the label values as they are in the data."""
        return {c.value: c.fraction for c in self.classes}


    @property
    def multipliers(self) -> dict[Any, float]:
        return {c.value: c.multiplier for c in self.classes}

    @property
    def rows(self) -> int:
        return sum(c.count for c in self.classes)

    @property
    def kept_known(self) -> bool:
        return all(c.predicted_kept is not None for c in self.classes)

    @property
    def predicted_rows(self) -> int:
        return sum(c.predicted_kept or 0 for c in self.classes)

    def with_kept(self, kept: dict[str, tuple[int, float]]) -> SamplingPlan:
        """The plan with kept counts/weights measured on the sample itself."""
        classes = tuple(
            replace(c, predicted_kept=kept.get(c.key, (0, 0.0))[0], predicted_kept_weight=kept.get(c.key, (0, 0.0))[1])
            for c in self.classes
        )
        return replace(self, classes=classes)


def minority_class_keys(profile: ClassProfile, cfg: JobConfig) -> set[str]:
    """Configured minority classes, or by default every class except the most frequent."""
    configured = cfg.minority_keys()
    if configured is not None:
        return configured
    most_frequent = max(profile.classes, key=lambda c: (c.count, c.key)).key if profile.classes else None
    return {c.key for c in profile.classes if c.key != most_frequent}


def _configured_keys(cfg: JobConfig) -> set[str]:
    keys = set(cfg.minority_keys() or ())
    if isinstance(cfg.downsampling.factor, dict):
        keys |= {label_key(k) for k in cfg.downsampling.factor}
    return keys


def _skip_reason(degree: str, cfg: JobConfig) -> str | None:
    if degree not in cfg.downsampling.skip_if_degree:
        return None
    return (
        f"the imbalance is {degree}, listed in downsampling.skip_if_degree: written unsampled"
        " with the source weights (first try training on the true distribution)"
    )


def _class_plan(c: ClassStats, minority: set[str], cfg: JobConfig, derived: float | None, skipped: bool) -> ClassPlan:
    """One class's role, factor and the kept counts known before sampling."""
    if c.key in minority:
        role, factor = "minority", 1.0
    else:
        role = "majority"
        configured = derived if derived is not None else cfg.downsampling.factor_for(c.key)
        factor = 1.0 if configured is None or skipped else configured
    # Kept counts from the profiling pass hold for the configured factor; a class kept whole
    # keeps every row; otherwise (a derived factor) they are measured on the sample later.
    if factor == 1.0:
        kept, kept_w = c.count, c.weight_sum
    elif derived is None:
        kept, kept_w = c.kept_if_downsampled, c.kept_weight_if_downsampled
    else:
        kept, kept_w = None, None
    return ClassPlan(
        key=c.key,
        value=c.value,
        role=role,
        count=c.count,
        factor=factor,
        fraction=1.0 / factor,
        weight_sum=c.weight_sum,
        predicted_kept=kept,
        predicted_kept_weight=kept_w,
        weight_mode=cfg.weight.mode,
    )


def plan_sampling(profile: ClassProfile, cfg: JobConfig) -> SamplingPlan:
    """Turn a class profile and the config into per-class fractions and weight multipliers.

    Roles: configured minority classes (default: all but the most frequent) are kept whole;
    every other class is majority, downsampled by its factor (a class the factor mapping does
    not name is kept whole, factor 1).
    """
    ds = cfg.downsampling
    minority = minority_class_keys(profile, cfg)
    total = profile.rows
    minority_rows = sum(c.count for c in profile.classes if c.key in minority)
    degree = degree_of_imbalance(minority_rows, total)
    notes: list[str] = []
    absent = tuple(sorted(_configured_keys(cfg) - {c.key for c in profile.classes}))
    if absent:
        notes.append(f"configured class(es) {list(absent)} do not occur in the input")
    if minority_rows == 0:
        notes.append("no minority class occurs in the input")
    skipped = _skip_reason(degree, cfg)
    derived = None
    if skipped is None and ds.target_minority_share is not None:
        derived = factor_for_minority_share(minority_rows, total, ds.target_minority_share)
        if derived <= 1.0:
            notes.append(
                f"target_minority_share {ds.target_minority_share:g} is at or below the current"
                f" minority share {minority_rows / total:.4g}: factor 1, every row kept"
            )
    return SamplingPlan(
        classes=tuple(_class_plan(c, minority, cfg, derived, skipped is not None) for c in profile.classes),
        minority_share=minority_rows / total,
        degree=degree,
        derived_factor=derived,
        skipped=skipped,
        absent_classes=absent,
        notes=tuple(notes),
    )


def check_guards(plan: SamplingPlan, sigmas: float) -> list[str]:
    """Problems with the planned sample, checked before anything is committed (empty if none)."""
    problems = []
    for c in plan.classes:
        kept = c.predicted_kept
        if kept is None:
            problems.append(f"class {c.key}: kept count unknown")
            continue
        if not c.downsampled and kept != c.count:
            what = "minority" if c.role == "minority" else "kept-whole"
            problems.append(f"{what} class {c.key}: {kept:,} of {c.count:,} rows kept, expected all")
        elif c.count > 0 and kept == 0:
            problems.append(
                f"class {c.key} vanished: 0 of {c.count:,} rows kept (expected {c.expected_kept:,.1f});"
                " lower its factor"
            )
        elif c.downsampled:
            sd = binomial_sigma(c.count, c.fraction)
            if abs(kept - c.expected_kept) > sigmas * sd:
                problems.append(
                    f"class {c.key}: {kept:,} rows kept, outside {sigmas:g} sigma of the expected"
                    f" {c.expected_kept:,.1f} (sigma {sd:,.1f})"
                )
    return problems


def factor_for_minority_share(minority_rows: int, total_rows: int, target_share: float) -> float:
    """The factor F that brings the expected minority share of the output to ``target_share``."""
    majority_rows = total_rows - minority_rows
    if minority_rows <= 0 or majority_rows <= 0:
        return 1.0
    # m / (m + M/F) = t  =>  F = t * M / (m * (1 - t))
    factor = target_share * majority_rows / (minority_rows * (1.0 - target_share))
    return max(1.0, factor)


def binomial_sigma(n: int, p: float) -> float:
    """Standard deviation of a Binomial(n, p) count."""
    return math.sqrt(n * p * (1.0 - p))
