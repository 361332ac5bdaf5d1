"""Plan the sampling: from class counts and config to a keep fraction and weight per class.

Plain Python arithmetic, no Spark: every class seen in the data gets an explicit fraction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from imbalance_spark.common.names import label_key
from imbalance_spark.config.models import JobConfig
from imbalance_spark.profile import ClassProfile, ClassStats, StratumStats


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
    # stratified: the class's factor differs between strata (``factor`` is then the effective one,
    # rows over expected kept rows, and no single prior correction holds)
    varies: bool = False

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
    # with downsampling.strata: its columns and each stratum's plan (``classes`` are their sums)
    strata_columns: tuple[str, ...] = ()
    strata: tuple[StratumPlan, ...] = ()

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
    def stratum_fractions(self) -> dict[tuple, dict[str, float]]:
        """Keep fractions per stratum values, then class key: every (stratum, class) pair of the input."""
        return {s.values: {c.key: c.fraction for c in s.classes} for s in self.strata}

    @property
    def stratum_multipliers(self) -> dict[tuple, dict[str, float]]:
        """Weight multipliers per stratum values, then class key: each stratum's own factor."""
        return {s.values: {c.key: c.multiplier for c in s.classes} for s in self.strata}

    @property
    def keeps_everything(self) -> bool:
        """Every row of every class (and stratum) is kept: nothing to sample."""
        classes = [c for s in self.strata for c in s.classes] if self.strata else self.classes
        return all(c.fraction == 1.0 for c in classes)

    @property
    def logit_offsets(self) -> dict[str, float]:
        """ln(1/F) per downsampled class whose factor is one for the whole table (per stratum: ``strata``)."""
        return {c.key: c.logit_offset for c in self.classes if c.downsampled and not c.varies}

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

    def with_kept_strata(self, kept: dict[tuple, dict[str, tuple[int, float]]]) -> SamplingPlan:
        """The stratified plan with kept counts/weights per stratum measured on the sample itself."""
        strata = tuple(s.with_kept(kept.get(s.values, {})) for s in self.strata)
        return replace(self, strata=strata, classes=class_totals(self.classes, strata))


@dataclass(frozen=True)
class StratumPlan:
    """What happens to one stratum's classes: each its own factor, keep fraction and weight."""

    values: tuple[str | None, ...]  # the stratum's values of downsampling.strata, as text
    label: str  # "country=DE, channel=web"
    classes: tuple[ClassPlan, ...]
    minority_share: float
    degree: str
    derived_factor: float | None = None  # from target_minority_share, for this stratum

    @property
    def rows(self) -> int:
        return sum(c.count for c in self.classes)

    def with_kept(self, kept: dict[str, tuple[int, float]]) -> StratumPlan:
        """The stratum's plan with kept counts/weights measured on the sample."""
        classes = tuple(
            replace(c, predicted_kept=kept.get(c.key, (0, 0.0))[0], predicted_kept_weight=kept.get(c.key, (0, 0.0))[1])
            for c in self.classes
        )
        return replace(self, classes=classes)


def stratum_label(columns: tuple[str, ...], values: tuple[str | None, ...]) -> str:
    """A stratum's name: ``country=DE`` (``, `` between columns; a null value is ``null``)."""
    return ", ".join(f"{c}={'null' if v is None else v}" for c, v in zip(columns, values, strict=True))


def class_totals(classes: tuple[ClassPlan, ...], strata: tuple[StratumPlan, ...]) -> tuple[ClassPlan, ...]:
    """Each class summed over the strata: its rows, weights, kept counts and effective factor."""
    totals = []
    for c in classes:
        parts = [p for s in strata for p in s.classes if p.key == c.key]
        count = sum(p.count for p in parts)
        expected = sum(p.expected_kept for p in parts)
        factors = {p.factor for p in parts}
        factor = factors.pop() if len(factors) == 1 else (count / expected if expected > 0 else 1.0)
        known = all(p.predicted_kept is not None for p in parts)
        totals.append(
            replace(
                c,
                count=count,
                factor=factor,
                fraction=1.0 / factor,
                weight_sum=sum(p.weight_sum for p in parts),
                predicted_kept=sum(p.predicted_kept for p in parts) if known else None,
                predicted_kept_weight=sum(p.predicted_kept_weight for p in parts) if known else None,
                varies=len({p.factor for p in parts}) > 1,
            )
        )
    return tuple(totals)


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
    plan = SamplingPlan(
        classes=tuple(_class_plan(c, minority, cfg, derived, skipped is not None) for c in profile.classes),
        minority_share=minority_rows / total,
        degree=degree,
        derived_factor=derived,
        skipped=skipped,
        absent_classes=absent,
        notes=tuple(notes),
    )
    return _stratified(plan, profile, cfg, minority) if ds.strata else plan


def _stratified(plan: SamplingPlan, profile: ClassProfile, cfg: JobConfig, minority: set[str]) -> SamplingPlan:
    """The plan per stratum: the factor, or the target share, applied to each stratum's own counts."""
    columns = tuple(cfg.downsampling.strata)
    strata = tuple(_stratum_plan(s, columns, minority, cfg, plan.skipped is not None) for s in profile.strata)
    notes = [n for n in plan.notes if not n.startswith("target_minority_share")]
    target = cfg.downsampling.target_minority_share
    if target is not None and plan.skipped is None:
        notes += _target_notes(strata, target)
    return replace(
        plan, classes=class_totals(plan.classes, strata), derived_factor=None, strata_columns=columns, strata=strata,
        notes=tuple(notes),
    )


def _stratum_plan(
    s: StratumStats, columns: tuple[str, ...], minority: set[str], cfg: JobConfig, skipped: bool
) -> StratumPlan:
    """One stratum's classes planned as a table of their own (roles stay the table's)."""
    minority_rows = sum(c.count for c in s.classes if c.key in minority)
    target = cfg.downsampling.target_minority_share
    derived = None
    if target is not None and not skipped:
        derived = factor_for_minority_share(minority_rows, s.rows, target)
    return StratumPlan(
        values=s.values,
        label=stratum_label(columns, s.values),
        classes=tuple(_class_plan(c, minority, cfg, derived, skipped) for c in s.classes),
        minority_share=minority_rows / s.rows,
        degree=degree_of_imbalance(minority_rows, s.rows),
        derived_factor=derived,
    )


def _target_notes(strata: tuple[StratumPlan, ...], target: float) -> list[str]:
    """Which strata the target share cannot apply to: no minority rows, or already at or above it."""
    notes = []
    empty = [s.label for s in strata if s.minority_share == 0.0]
    whole = [s.label for s in strata if s.minority_share > 0.0 and s.derived_factor == 1.0]
    for names, why in ((empty, "have no minority rows"), (whole, f"are at or above target_minority_share {target:g}")):
        if names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            notes.append(f"{len(names)} stratum(s) {why}: factor 1, every row kept ({shown})")
    return notes


def check_guards(plan: SamplingPlan, sigmas: float) -> list[str]:
    """Problems with the planned sample, checked before anything is committed (empty if none).

    A stratified plan is checked stratum by stratum (each stratum's class counts against its own factor).
    """
    if plan.strata:
        return [p for s in plan.strata for p in _class_problems(s.classes, sigmas, f" in stratum {s.label}")]
    return _class_problems(plan.classes, sigmas)


def _class_problems(classes: tuple[ClassPlan, ...], sigmas: float, where: str = "") -> list[str]:
    """Each class's kept count against its plan: all rows of a class kept whole, N/F within the sigmas."""
    problems = []
    for c in classes:
        kept = c.predicted_kept
        if kept is None:
            problems.append(f"class {c.key}{where}: kept count unknown")
            continue
        if not c.downsampled and kept != c.count:
            what = "minority" if c.role == "minority" else "kept-whole"
            problems.append(f"{what} class {c.key}{where}: {kept:,} of {c.count:,} rows kept, expected all")
        elif c.count > 0 and kept == 0:
            fix = "lower its factor" if not where else "lower its factor, or stratify by fewer, larger groups"
            problems.append(
                f"class {c.key}{where} vanished: 0 of {c.count:,} rows kept (expected {c.expected_kept:,.1f}); {fix}"
            )
        elif c.downsampled:
            sd = binomial_sigma(c.count, c.fraction)
            if abs(kept - c.expected_kept) > sigmas * sd:
                problems.append(
                    f"class {c.key}{where}: {kept:,} rows kept, outside {sigmas:g} sigma of the expected"
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
