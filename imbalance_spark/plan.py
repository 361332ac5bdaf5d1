"""Plan the sampling: from class counts and config to a keep fraction and weight per class.

Plain Python arithmetic, no Spark: every class seen in the data gets an explicit fraction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from imbalance_spark.config import JobConfig
from imbalance_spark.profile import ClassProfile

DEGREES = ("extreme", "moderate", "mild", "none")


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
    factor: float  # weight multiplier; 1.0 for classes kept whole
    fraction: float  # keep probability = 1 / factor
    expected_kept: float
    predicted_kept: int  # rows the sampler keeps, from the profiling pass
    weight_sum: float
    predicted_kept_weight: float

    @property
    def downsampled(self) -> bool:
        return self.factor > 1.0


@dataclass(frozen=True)
class SamplingPlan:
    """Per-class plan plus the balance summary of the input."""

    classes: tuple[ClassPlan, ...]
    minority_share: float
    degree: str

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
        return {c.value: c.factor for c in self.classes}

    @property
    def rows(self) -> int:
        return sum(c.count for c in self.classes)

    @property
    def predicted_rows(self) -> int:
        return sum(c.predicted_kept for c in self.classes)

    def minority_share_after(self) -> float:
        kept = self.predicted_rows
        return sum(c.predicted_kept for c in self.classes if c.role == "minority") / kept if kept else 0.0


def minority_class_keys(profile: ClassProfile, cfg: JobConfig) -> set[str]:
    """Configured minority classes, or by default every class except the most frequent."""
    configured = cfg.minority_keys()
    if configured is not None:
        return configured
    most_frequent = max(profile.classes, key=lambda c: (c.count, c.key)).key if profile.classes else None
    return {c.key for c in profile.classes if c.key != most_frequent}


def plan_sampling(profile: ClassProfile, cfg: JobConfig) -> SamplingPlan:
    """Turn a class profile and the config into per-class fractions and weight multipliers."""
    minority = minority_class_keys(profile, cfg)
    plans = []
    for c in profile.classes:
        if c.key in minority:
            role, factor = "minority", 1.0
        else:
            role = "majority"
            configured = cfg.downsampling.factor_for(c.key)
            # A class the factor mapping does not name is kept whole (factor 1).
            factor = 1.0 if configured is None else configured
        fraction = 1.0 / factor
        whole = factor == 1.0
        plans.append(
            ClassPlan(
                key=c.key,
                value=c.value,
                role=role,
                count=c.count,
                factor=factor,
                fraction=fraction,
                expected_kept=c.count * fraction,
                predicted_kept=c.count if whole or role == "minority" else c.kept_if_downsampled,
                weight_sum=c.weight_sum,
                predicted_kept_weight=(
                    c.weight_sum if whole or role == "minority" else c.kept_weight_if_downsampled
                ),
            )
        )
    total = profile.rows
    minority_rows = sum(p.count for p in plans if p.role == "minority")
    return SamplingPlan(
        classes=tuple(plans),
        minority_share=minority_rows / total,
        degree=degree_of_imbalance(minority_rows, total),
    )


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
