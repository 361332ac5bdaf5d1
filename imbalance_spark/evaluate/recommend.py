"""The recommended F, and the reasons, from the sweep's metrics and intervals.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from imbalance_spark.evaluate.bootstrap import SAME_MODEL
from imbalance_spark.evaluate.metrics import _finite
from imbalance_spark.evaluate.report import (
    FactorCheck,
    GroupOff,
    PrAucComparison,
    Recommendation,
    SweepPoint,
    VariantMetrics,
)

# The base rate is known within +-5% (one standard error ~ 1/sqrt(positives)) from this many positives,
# half of the 10% calibration band: fewer and the calibration check reads noise.
CALIBRATION_POSITIVES = 400


# A day or segment value is checked against the calibration band only when the band is at least this
# many standard errors of its mean p / observed rate: a calibrated model then leaves the band by noise
# in 0.27% of the groups checked (two-sided 3 sigma), so a few dozen days and segments rarely refuse
# an F for nothing (at 2 sigma, 4.6% each: one in three evaluations over ten groups).
GROUP_SIGMAS = 3.0


def group_positives_needed(calibration_tolerance: float, sigmas: float = GROUP_SIGMAS) -> int:
    """Positives a day or segment value needs before its calibration is checked: (sigmas / tolerance)^2.

    The observed rate of k positives has a relative standard error of about 1/sqrt(k) (binomial,
    sqrt((1 - rate) / k), a little less for a rare class), and so has mean p / observed rate; the
    band of +-tolerance is ``sigmas`` standard errors wide when k >= (sigmas / tolerance)^2.
    """
    return math.ceil(round((sigmas / calibration_tolerance) ** 2, 6))


def group_rule(calibration_tolerance: float) -> str:
    """The rule of the per-day and per-segment check, in words (the JSON's ``recommendation.group_rule``)."""
    n = group_positives_needed(calibration_tolerance)
    return (
        f"an F passes only if no test day or segment value with at least {n:,} positives has mean p / observed"
        f" rate off 1 by more than {calibration_tolerance:.0%}: from (3 / {calibration_tolerance:g})^2 positives"
        f" the band is 3 standard errors of that ratio (relative s.e. ~ 1/sqrt(positives)), so a calibrated"
        " model leaves it by noise in 0.3% of the groups; groups with fewer positives are shown, not checked"
    )


def positives_needed(calibration_tolerance: float, minimum: int = CALIBRATION_POSITIVES) -> int:
    """Test positives needed so the base rate is known within half the calibration band (one s.e.)."""
    # relative s.e. of a rate from n positives ~ 1/sqrt(n); ask for <= tolerance / 2
    return max(minimum, math.ceil((2.0 / calibration_tolerance) ** 2))


def positives_to_resolve(test_positives: int, half_width: float, tolerance: float) -> int | None:
    """Test positives at which an interval of ``half_width`` (from ``test_positives``) narrows to +-tolerance.

    The bootstrap interval's width shrinks like 1/sqrt(positives).
    """
    if not math.isfinite(half_width):
        return None
    # rounded first: 1000 * (0.05 / 0.02)^2 is 6250, not 6251
    return math.ceil(round(test_positives * (half_width / tolerance) ** 2, 6))


def pr_auc_status(comparison: PrAucComparison | None, tolerance: float) -> str:
    """``within`` (the whole interval is above -tolerance), ``beyond`` (all of it below) or ``unresolved``."""
    if comparison is None or comparison.half_width is None:
        return "unresolved"
    if comparison.low >= -tolerance:
        return "within"
    if comparison.high < -tolerance:
        return "beyond"
    return "unresolved"


def _pct(x: float) -> str:
    return f"{x:+.1%}"


def _interval(c: FactorCheck) -> str:
    return f"{_pct(c.pr_auc_difference)}, 95% interval {_pct(c.pr_auc_low)} to {_pct(c.pr_auc_high)}"


@dataclass(frozen=True)
class Rule:
    """What a recommended F must keep: PR-AUC within ``tolerance``, calibration within its band."""

    tolerance: float
    calibration_tolerance: float
    min_test_positives: int
    variant: str
    group_positives: int = 0  # a day or segment value is checked from this many positives


def _has_groups(sweep: Sequence[SweepPoint], variant: str) -> bool:
    return any(s.variants[variant].calibration_by_day is not None
               or s.variants[variant].calibration_by_segment is not None for s in sweep)


def recommend_factor(
    sweep: Sequence[SweepPoint],
    test_positives: int,
    *,
    tolerance: float,
    calibration_tolerance: float,
    min_test_positives: int,
    variant: str = "weighted",
) -> Recommendation:
    """The largest F whose ``variant`` keeps PR-AUC within ``tolerance`` of F = 1 and stays calibrated.

    "Within" is with 95% confidence: the lower end of the interval of the relative PR-AUC difference
    to F = 1 (``variants[variant].pr_auc_vs_f1``) is at least -tolerance. When no larger F passes
    and every larger F's interval is wider than +-tolerance, the data cannot support a
    recommendation: ``factor`` is None, ``supported`` False, and ``needed_test_positives`` estimates
    how many test positives would narrow the best interval to +-tolerance. With calibration per day
    and segment in the sweep, an F passes only if no day or segment value with enough positives to
    tell (:func:`group_positives_needed`) is off the band either. Plain Python over the sweep.
    """
    rule = Rule(tolerance, calibration_tolerance, min_test_positives, variant,
                group_positives_needed(calibration_tolerance))
    rec = _recommend(sweep, test_positives, rule)
    if _has_groups(sweep, variant):
        rec = dataclasses.replace(rec, group_positives=rule.group_positives,
                                  group_rule=group_rule(calibration_tolerance))
    return rec


def _recommend(sweep: Sequence[SweepPoint], test_positives: int, rule: Rule) -> Recommendation:
    tolerance, variant = rule.tolerance, rule.variant
    needed = max(rule.min_test_positives, positives_needed(rule.calibration_tolerance, 0))
    by_factor = {float(s.factor): s.variants[variant] for s in sweep}
    if test_positives < needed:
        return Recommendation(None, False, _too_few_reason(test_positives, needed, rule), needed)
    if 1.0 not in by_factor or by_factor[1.0].pr_auc is None:
        return Recommendation(None, False, "the sweep has no F = 1 baseline to compare with", needed)
    checks = {f: factor_check(f, m, test_positives, rule) for f, m in sorted(by_factor.items())}
    larger = [f for f in checks if f > 1.0]
    narrowest = _narrowest(checks, larger)
    if narrowest is not None:
        needed = max(needed, positives_to_resolve(test_positives, narrowest[0], tolerance) or 0)
    keyed = {_fkey(f): c for f, c in checks.items()}
    if not checks[1.0].calibrated:
        return Recommendation(None, True, _miscalibrated_reason(checks[1.0], rule), needed, keyed)
    if not checks[1.0].groups_calibrated:
        return Recommendation(None, True, _group_miscalibrated_reason(checks[1.0], rule), needed, keyed)
    best = [f for f, c in checks.items() if c.pr_auc_ok and c.calibrated and c.groups_calibrated][-1]
    if best == 1.0 and larger and not any(checks[f].resolvable for f in larger):
        reason = _unsupported_reason(test_positives, narrowest, needed, rule)
        return Recommendation(None, False, reason, needed, keyed)
    reason = _recommended_reason(best, checks[best], by_factor, rule)
    reason += _groups_said(by_factor[best], checks[best], rule)
    bigger = [f for f in larger if f > best]
    if bigger:
        reason += f"; F = {bigger[0]:g} {_why_not(checks[bigger[0]], rule)}"
    return Recommendation(best, True, reason, needed, keyed)


def factor_check(factor: float, m: VariantMetrics, test_positives: int, rule: Rule) -> FactorCheck:
    """The checks of one F: its PR-AUC interval against the tolerance, its calibration against the band."""
    c = SAME_MODEL if factor == 1.0 else m.pr_auc_vs_f1
    status = pr_auc_status(c, rule.tolerance)
    half_width = c.half_width if c and c.half_width is not None else math.nan
    ratio = m.calibration_ratio
    checked, off = groups_off(m, rule)
    return FactorCheck(
        pr_auc_difference=c.difference if c else None,
        pr_auc_low=c.low if c else None,
        pr_auc_high=c.high if c else None,
        pr_auc_half_width=_finite(half_width),
        pr_auc_status=status,
        pr_auc_ok=status == "within",
        resolvable=math.isfinite(half_width) and half_width <= rule.tolerance,
        positives_to_resolve=(positives_to_resolve(test_positives, half_width, rule.tolerance)
                              if factor != 1.0 else None),
        calibration_ratio=ratio,
        calibrated=ratio is not None and abs(ratio - 1.0) <= rule.calibration_tolerance,
        groups_checked=checked,
        groups_off=off,
        groups_calibrated=not off,
    )


def groups_off(m: VariantMetrics, rule: Rule) -> tuple[int, tuple[GroupOff, ...]]:
    """How many days and segment values have enough positives to tell, and those off the band (worst first)."""
    told = [(by, value, g) for by, value, g in m.calibration_groups()
            if g.positives >= rule.group_positives and g.calibration_ratio is not None]
    off = [GroupOff(by, value, g.positives, g.calibration_ratio) for by, value, g in told
           if abs(g.calibration_ratio - 1.0) > rule.calibration_tolerance]
    return len(told), tuple(sorted(off, key=lambda o: -abs(math.log(o.calibration_ratio))))


def _group_name(o: GroupOff) -> str:
    return f"day {o.value}" if o.by == "day" else f"{o.by} = {o.value}"


def _worst_group(c: FactorCheck) -> str:
    o = c.groups_off[0]
    more = f" and {len(c.groups_off) - 1} more" if len(c.groups_off) > 1 else ""
    return f"{o.calibration_ratio:.3g}x the observed rate on {_group_name(o)} ({o.positives:,} positives){more}"


def _narrowest(checks: dict[float, FactorCheck], larger: list[float]) -> tuple[float, float] | None:
    widths = [(checks[f].pr_auc_half_width, f) for f in larger
              if checks[f].pr_auc_half_width is not None and math.isfinite(checks[f].pr_auc_half_width)]
    return min(widths) if widths else None


def _too_few_reason(test_positives: int, needed: int, rule: Rule) -> str:
    return (
        f"the test slice has only {test_positives:,} positives; at least {needed:,} are needed before"
        f" PR-AUC differences of {rule.tolerance:.0%} and a {rule.calibration_tolerance:.0%} calibration band"
        " mean anything (hold out more rows: an earlier split.test_from or a larger split.test_fraction)"
    )


def _miscalibrated_reason(base: FactorCheck, rule: Rule) -> str:
    return (
        f"no factor passes: even F = 1 predicts {base.calibration_ratio:.3g}x the test base rate"
        f" (allowed: within {rule.calibration_tolerance:.0%}); the test slice differs from the train slice"
        " (drift between the days?) or the features miss what drives the label"
    )


def _group_miscalibrated_reason(base: FactorCheck, rule: Rule) -> str:
    return (
        f"no factor passes: even F = 1 predicts {_worst_group(base)} (allowed: within"
        f" {rule.calibration_tolerance:.0%} on every day and segment value with at least {rule.group_positives:,}"
        " positives); the model misses what differs there (add the segment as a feature?) or the days drift"
    )


def _unsupported_reason(test_positives: int, narrowest: tuple[float, float] | None, needed: int,
                        rule: Rule) -> str:
    tolerance = rule.tolerance
    if narrowest is None:
        width = "has no bootstrap interval"
    else:
        width = (f"is at best +-{narrowest[0]:.1%} (F = {narrowest[1]:g}), wider than the {tolerance:.0%}"
                 " tolerance, so no F can be shown to keep PR-AUC within it")
    return (
        f"the data cannot support one: with {test_positives:,} test positives the 95% interval"
        f" of the {rule.variant} model's PR-AUC difference to F = 1 {width}; about {needed:,} test positives"
        f" would narrow it to +-{tolerance:.0%} (it narrows like 1/sqrt(positives)): hold out more rows"
        " (an earlier split.test_from or a larger split.test_fraction) or accept a larger evaluate.tolerance"
    )


def _recommended_reason(best: float, c: FactorCheck, by_factor: dict[float, VariantMetrics], rule: Rule) -> str:
    tolerance, band = rule.tolerance, rule.calibration_tolerance
    if best == 1.0:
        return (
            f"F = 1: no larger factor's {rule.variant} model is shown to keep PR-AUC within {tolerance:.0%} of"
            f" F = 1 with 95% confidence and mean prediction within {band:.0%} of the base rate"
        )
    return (
        f"F = {best:g} is the largest factor whose {rule.variant} model keeps PR-AUC within {tolerance:.0%} of"
        f" F = 1 with 95% confidence ({by_factor[best].pr_auc:.4f} vs {by_factor[1.0].pr_auc:.4f}:"
        f" {_interval(c)}, above {-tolerance:.0%}) and mean prediction within {band:.0%} of the base rate"
        f" ({c.calibration_ratio:.3f}x)"
    )


def _groups_said(m: VariantMetrics, c: FactorCheck, rule: Rule) -> str:
    """How many days and segment values the recommended F was checked on (nothing without any)."""
    groups = m.calibration_groups()
    if not groups:
        return ""
    return (f", also on the {c.groups_checked} of {len(groups)} test days and segment values with at least"
            f" {rule.group_positives:,} positives")


def _why_not(n: FactorCheck, rule: Rule) -> str:
    """Why the next larger F did not pass."""
    tolerance, why = rule.tolerance, []
    if n.pr_auc_difference is None or n.pr_auc_half_width is None:
        why.append("has no PR-AUC interval")
    elif n.pr_auc_status == "beyond":
        why.append(f"loses more than {tolerance:.0%} PR-AUC ({_interval(n)})")
    elif n.pr_auc_status == "unresolved":
        more = (f"; ~{n.positives_to_resolve:,} test positives would narrow it to +-{tolerance:.0%}"
                if not n.resolvable and n.positives_to_resolve else "")
        why.append(f"cannot be shown within {tolerance:.0%} ({_interval(n)}{more})")
    if not n.calibrated:
        why.append(f"predicts {n.calibration_ratio:.3g}x the base rate")
    if not n.groups_calibrated:
        why.append(f"predicts {_worst_group(n)}")
    return " and ".join(why)


def _fkey(f: float) -> str:
    return f"{f:g}"
