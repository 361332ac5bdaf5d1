"""The evaluation report as a console table, and as JSON.
"""

from __future__ import annotations

import json
import math

from imbalance_spark.evaluate.report import EvaluationReport, PrAucComparison, SweepPoint
from imbalance_spark.evaluate.sweep import VARIANTS


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _vs_f1(c: PrAucComparison | None) -> str:
    """The relative PR-AUC difference to F = 1 and its 95% interval, e.g. ``-0.9% [-1.8, +0.1]``."""
    if c is None or c.half_width is None or not math.isfinite(c.half_width):
        return "-"
    if c.half_width == 0.0:
        return "(baseline)"
    return f"{c.difference:+.1%} [{100 * c.low:+.1f}, {100 * c.high:+.1f}]"


def _header(report: EvaluationReport) -> list[str]:
    split, test = report.split, report.test
    where = f"test from {split.test_from}" if split.by == "date" else f"hash of {list(split.key_columns)}"
    return [
        f"dataset {report.dataset}: {report.model} on {report.train.rows:,} train rows,"
        f" measured on {test.rows:,} held-out rows ({where}, {test.positives:,} positives,"
        f" base rate {test.base_rate:.4%})",
        "",
        f"{'F':>5} {'model':<11}{'rows':>11}{'MB':>8}{'train s':>9}{'iter':>6}{'PR-AUC':>9}"
        f"{'vs F=1 [95%]':>23}{'ROC-AUC':>9}{'mean p/base':>12}{'ECE':>9}{'log loss':>10}{'NE':>8}{'Brier':>9}",
    ]


def _point_rows(s: SweepPoint) -> list[str]:
    lines = []
    for name in VARIANTS:
        v = s.variants[name]
        first = name == "weighted"
        lines.append(
            f"{(format(s.factor, 'g') if first else ''):>5} {name:<11}"
            f"{(format(s.train_rows, ',') if first else ''):>11}"
            f"{(format(s.sample_bytes / 1e6, '.1f') if first else ''):>8}"
            f"{_num(v.train_seconds, '.1f'):>9}{_num(v.iterations, 'd'):>6}"
            f"{_num(v.pr_auc, '.4f'):>9}{_vs_f1(v.pr_auc_vs_f1 if first else None):>23}"
            f"{_num(v.roc_auc, '.4f'):>9}"
            f"{_num(v.calibration_ratio, '.3f'):>12}{_num(v.ece, '.5f'):>9}"
            f"{_num(v.log_loss, '.5f'):>10}{_num(v.normalized_entropy, '.4f'):>8}{_num(v.brier, '.5f'):>9}"
        )
        if s.factor == 1.0:
            break
    return lines


def render_group_calibration(report: EvaluationReport, variant: str = "weighted") -> list[str]:
    """Per F, the days and segment values checked against the calibration band, their range, and any off it."""
    rec = report.recommendation
    if rec.group_positives is None:
        return []
    lines = [
        f"calibration per test day and segment ({variant} model, mean p / observed rate): a day or value is"
        f" checked from {rec.group_positives:,} positives (3 standard errors inside the"
        f" +-{report.calibration_tolerance:.0%} band)"
    ]
    for s in report.sweep:
        c = rec.checks.get(f"{s.factor:g}")
        groups = s.variants[variant].calibration_groups()
        told = [g.calibration_ratio for _, _, g in groups
                if g.positives >= rec.group_positives and g.calibration_ratio is not None]
        span = f", {min(told):.3f} to {max(told):.3f}" if told else ""
        off = ", ".join(f"{_group(o.by, o.value)} {o.calibration_ratio:.3f}" for o in (c.groups_off if c else ()))
        off = f"; off: {off}" if off else ""
        lines.append(f"  F = {s.factor:g}: {len(told)} of {len(groups)} checked{span}{off}")
    return lines


def _group(by: str, value: str | None) -> str:
    return f"day {value}" if by == "day" else f"{by} = {value}"


def _seconds(stages: dict[str, float]) -> str:
    return ", ".join(f"{name.replace('_', ' ')} {s:.1f}" for name, s in stages.items())


def render_timings(report: EvaluationReport) -> list[str]:
    """Where the time went: each stage, each F's steps within the sweep, and what no stage accounts for."""
    total = sum(report.stages_s.values()) + report.unaccounted_s
    lines = [f"time (s): {_seconds(dict(report.stages_s))}, unaccounted {report.unaccounted_s:.1f}"
             f" = {total:.1f}"]
    for s in report.sweep:
        lines.append(f"  sweep at F = {s.factor:g}: {_seconds(dict(s.stages_s))} = {s.duration_s:.1f}")
    return lines


def render_evaluation(report: EvaluationReport) -> str:
    """The evaluation as a readable console table."""
    lines = _header(report)
    for s in report.sweep:
        lines += _point_rows(s)
    rec = report.recommendation
    lines.append("")
    lines.append(
        f"vs F = 1: the weighted model's PR-AUC relative to F = 1's on the same test rows, with a 95% interval"
        f" ({report.bootstrap.replicates} paired bootstrap replicates); F passes when the interval's lower end is"
        f" >= -{report.tolerance:.0%}"
    )
    lines += render_group_calibration(report)
    lines.append("")
    lines.append(
        f"recommended F = {rec.factor:g}: {rec.reason}" if rec.factor is not None
        else f"no recommendation: {rec.reason}"
    )
    lines.extend(f"note: {n}" for n in report.notes)
    lines.append(report.input.persisted)
    for name, path in (report.figures or {}).items():
        lines.append(f"figure {name}: {path}")
    lines += render_timings(report)
    lines.append(f"done in {report.duration_s:.1f} s")
    return "\n".join(lines)


def report_json(report: EvaluationReport) -> str:
    """The report as indented JSON."""
    return json.dumps(report.to_dict(), indent=2, default=str)
