"""The recommended F, and the reasons, from the sweep's metrics and intervals.
"""

from __future__ import annotations

import math
from typing import Any

from imbalance_spark.evaluate.bootstrap import SAME_MODEL
from imbalance_spark.evaluate.metrics import _finite

# The base rate is known within +-5% (one standard error ~ 1/sqrt(positives)) from this many positives,
# half of the 10% calibration band: fewer and the calibration check reads noise.
CALIBRATION_POSITIVES = 400


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


def pr_auc_status(comparison: dict[str, Any] | None, tolerance: float) -> str:
    """``within`` (the whole interval is above -tolerance), ``beyond`` (all of it below) or ``unresolved``."""
    if comparison is None or comparison.get("half_width") is None:
        return "unresolved"
    if comparison["low"] >= -tolerance:
        return "within"
    if comparison["high"] < -tolerance:
        return "beyond"
    return "unresolved"


def _pct(x: float) -> str:
    return f"{x:+.1%}"


def _interval(c: dict[str, Any]) -> str:
    return f"{_pct(c['difference'])}, 95% interval {_pct(c['low'])} to {_pct(c['high'])}"


def recommend_factor(
    sweep: list[dict[str, Any]],
    test_positives: int,
    *,
    tolerance: float,
    calibration_tolerance: float,
    min_test_positives: int,
    variant: str = "weighted",
) -> dict[str, Any]:
    """The largest F whose ``variant`` keeps PR-AUC within ``tolerance`` of F = 1 and stays calibrated.

    "Within" is with 95% confidence: the lower end of the interval of the relative PR-AUC difference
    to F = 1 (``variants[variant]["pr_auc_vs_f1"]``) is at least -tolerance. When no larger F passes
    and every larger F's interval is wider than +-tolerance, the data cannot support a
    recommendation: ``factor`` is None, ``supported`` False, and ``needed_test_positives`` estimates
    how many test positives would narrow the best interval to +-tolerance.

    Returns ``{"factor", "supported", "reason", "needed_test_positives", "checks": {F: {...}}}``;
    plain Python over the sweep.
    """
    needed = max(min_test_positives, positives_needed(calibration_tolerance, 0))
    by_factor = {float(s["factor"]): s["variants"][variant] for s in sweep}
    if test_positives < needed:
        return {
            "factor": None,
            "supported": False,
            "reason": (
                f"the test slice has only {test_positives:,} positives; at least {needed:,} are needed before"
                f" PR-AUC differences of {tolerance:.0%} and a {calibration_tolerance:.0%} calibration band mean"
                " anything (hold out more rows: an earlier split.test_from or a larger split.test_fraction)"
            ),
            "needed_test_positives": needed,
            "checks": {},
        }
    if 1.0 not in by_factor or by_factor[1.0].get("pr_auc") is None:
        return {"factor": None, "supported": False, "reason": "the sweep has no F = 1 baseline to compare with",
                "needed_test_positives": needed, "checks": {}}
    baseline = by_factor[1.0]["pr_auc"]
    checks: dict[str, dict[str, Any]] = {}
    for f in sorted(by_factor):
        m = by_factor[f]
        c = SAME_MODEL if f == 1.0 else m.get("pr_auc_vs_f1")
        status = pr_auc_status(c, tolerance)
        half_width = c["half_width"] if c and c.get("half_width") is not None else math.nan
        ratio = m.get("calibration_ratio")
        checks[_fkey(f)] = {
            "pr_auc_difference": c["difference"] if c else None,
            "pr_auc_low": c["low"] if c else None,
            "pr_auc_high": c["high"] if c else None,
            "pr_auc_half_width": _finite(half_width),
            "pr_auc_status": status,
            "pr_auc_ok": status == "within",
            "resolvable": math.isfinite(half_width) and half_width <= tolerance,
            "positives_to_resolve": positives_to_resolve(test_positives, half_width, tolerance) if f != 1.0 else None,
            "calibration_ratio": ratio,
            "calibrated": ratio is not None and abs(ratio - 1.0) <= calibration_tolerance,
        }
    larger = [f for f in sorted(by_factor) if f > 1.0]
    widths = [(checks[_fkey(f)]["pr_auc_half_width"], f) for f in larger
              if checks[_fkey(f)]["pr_auc_half_width"] is not None
              and math.isfinite(checks[_fkey(f)]["pr_auc_half_width"])]
    narrowest = min(widths) if widths else None
    if narrowest is not None:
        pr_needed = positives_to_resolve(test_positives, narrowest[0], tolerance) or 0
        needed = max(needed, pr_needed)
    passing = [f for f in sorted(by_factor) if checks[_fkey(f)]["pr_auc_ok"] and checks[_fkey(f)]["calibrated"]]
    base_check = checks[_fkey(1.0)]
    if not base_check["calibrated"]:
        reason = (
            f"no factor passes: even F = 1 predicts {base_check['calibration_ratio']:.3g}x the test base rate"
            f" (allowed: within {calibration_tolerance:.0%}); the test slice differs from the train slice"
            " (drift between the days?) or the features miss what drives the label"
        )
        return {"factor": None, "supported": True, "reason": reason, "needed_test_positives": needed,
                "checks": checks}
    best = passing[-1]
    if best == 1.0 and larger and not any(checks[_fkey(f)]["resolvable"] for f in larger):
        if narrowest is None:
            width = "has no bootstrap interval"
        else:
            width = (f"is at best +-{narrowest[0]:.1%} (F = {narrowest[1]:g}), wider than the {tolerance:.0%}"
                     " tolerance, so no F can be shown to keep PR-AUC within it")
        reason = (
            f"the data cannot support one: with {test_positives:,} test positives the 95% interval"
            f" of the {variant} model's PR-AUC difference to F = 1 {width}; about {needed:,} test positives"
            f" would narrow it to +-{tolerance:.0%} (it narrows like 1/sqrt(positives)): hold out more rows"
            " (an earlier split.test_from or a larger split.test_fraction) or accept a larger evaluate.tolerance"
        )
        return {"factor": None, "supported": False, "reason": reason, "needed_test_positives": needed,
                "checks": checks}
    c = checks[_fkey(best)]
    if best == 1.0:
        reason = (
            f"F = 1: no larger factor's {variant} model is shown to keep PR-AUC within {tolerance:.0%} of F = 1"
            f" with 95% confidence and mean prediction within {calibration_tolerance:.0%} of the base rate"
        )
    else:
        reason = (
            f"F = {best:g} is the largest factor whose {variant} model keeps PR-AUC within {tolerance:.0%} of"
            f" F = 1 with 95% confidence ({by_factor[best]['pr_auc']:.4f} vs {baseline:.4f}:"
            f" {_interval(_check_interval(c))},"
            f" above {-tolerance:.0%}) and mean prediction within {calibration_tolerance:.0%} of the base rate"
            f" ({c['calibration_ratio']:.3f}x)"
        )
    bigger = [f for f in larger if f > best]
    if bigger:
        nxt, n = bigger[0], checks[_fkey(bigger[0])]
        why = []
        if n["pr_auc_difference"] is None or n["pr_auc_half_width"] is None:
            why.append("has no PR-AUC interval")
        elif n["pr_auc_status"] == "beyond":
            why.append(f"loses more than {tolerance:.0%} PR-AUC ({_interval(_check_interval(n))})")
        elif n["pr_auc_status"] == "unresolved":
            more = (f"; ~{n['positives_to_resolve']:,} test positives would narrow it to +-{tolerance:.0%}"
                    if not n["resolvable"] and n["positives_to_resolve"] else "")
            why.append(f"cannot be shown within {tolerance:.0%} ({_interval(_check_interval(n))}{more})")
        if not n["calibrated"]:
            why.append(f"predicts {n['calibration_ratio']:.3g}x the base rate")
        reason += f"; F = {nxt:g} {' and '.join(why)}"
    return {"factor": best, "supported": True, "reason": reason, "needed_test_positives": needed, "checks": checks}


def _check_interval(check: dict[str, Any]) -> dict[str, Any]:
    return {"difference": check["pr_auc_difference"], "low": check["pr_auc_low"], "high": check["pr_auc_high"]}


def _fkey(f: float) -> str:
    return f"{f:g}"
