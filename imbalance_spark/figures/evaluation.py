"""The evaluation figures: the sweep, the reliability diagram, class counts (and calibration per group).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from imbalance_spark.evaluate.report import EvaluationReport, SweepPoint
from imbalance_spark.figures.calibration import draw_group_calibration
from imbalance_spark.figures.common import _figure, _save_png

VARIANT_STYLE = {
    "weighted": ("weighted (weightCol)", "tab:blue", "o"),
    "unweighted": ("unweighted", "tab:red", "s"),
    "king_zeng": ("unweighted + King-Zeng ln(1/F)", "tab:green", "^"),
}


def draw_reliability(report: EvaluationReport, path: Path) -> str:
    """Reliability diagram at the configured F: predicted vs observed rate per equal-mass bin, log-log."""
    factor = report.reliability_factor
    point = report.point(factor)
    fig = _figure(6.4, 5.6)
    ax = fig.add_subplot(1, 1, 1)
    lo, hi = 1.0, 0.0
    for name, (label, color, marker) in VARIANT_STYLE.items():
        v = point.variants[name]
        bins = [b for b in v.calibration_bins if b.mean_prediction > 0 and b.observed_rate > 0]
        xs = [b.mean_prediction for b in bins]
        ys = [b.observed_rate for b in bins]
        if not xs:
            continue
        lo, hi = min(lo, *xs, *ys), max(hi, *xs, *ys)
        ax.plot(xs, ys, marker=marker, color=color, label=f"{label}: mean {v.calibration_ratio:.2f}x base")
    if hi > lo:
        ax.plot([lo, hi], [lo, hi], color="0.5", linestyle="--", label="perfectly calibrated")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mean predicted probability (bin)")
    ax.set_ylabel("observed positive rate (bin)")
    test = report.test
    ax.set_title(
        f"{report.dataset}: calibration at F = {factor:g} on {test.rows:,} held-out rows\n"
        f"({report.bins} equal-mass bins; base rate {test.base_rate:.3%})",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(True, which="both", alpha=0.3)
    return _save_png(fig, path)


def _draw_pr_auc_intervals(ax, sweep: Sequence[SweepPoint], base: float | None) -> None:
    """The weighted model's 95% interval of PR-AUC at each F, from the report's difference to F = 1."""
    if base is None:
        return
    fs, lows, highs = [], [], []
    for s in sweep:
        c = s.variants["weighted"].pr_auc_vs_f1
        if c and c.half_width and math.isfinite(c.half_width):
            fs.append(s.factor)
            lows.append(base * (1 + c.low))
            highs.append(base * (1 + c.high))
    if fs:
        ax.vlines(fs, lows, highs, color=VARIANT_STYLE["weighted"][1], linewidth=2.5, alpha=0.35,
                  label="weighted: 95% interval (paired with F = 1)")


# The training-time panel: each number is one fit, timed once (no repeats, so no spread to show).
TIME_TITLE = "training time (s): one fit per F and model, a single run"


def _draw_variants(ax, sweep: Sequence[SweepPoint], metric: str) -> None:
    """One line per variant; a line equal to an earlier one is drawn dashed on top and says so.

    King-Zeng shifts every logit equally, so its ranking (PR-AUC) and its fit (time) are the
    unweighted model's: drawn plainly, the second line would hide the first.
    """
    fs = [s.factor for s in sweep]
    drawn: dict[str, list] = {}
    for name, (label, color, marker) in VARIANT_STYLE.items():
        ys = [getattr(s.variants[name], metric) for s in sweep]
        if all(y is None for y in ys):
            continue
        same = next((other for other, prev in drawn.items() if _coincide(prev, ys)), None)
        if same is None:
            ax.plot(fs, ys, marker=marker, color=color, label=label, linewidth=2.5, markersize=7)
        else:
            ax.plot(fs, ys, marker=marker, color=color, linestyle="--", linewidth=1.2, markersize=4,
                    label=f"{label} (= {VARIANT_STYLE[same][0]}: the lines coincide)")
        drawn[name] = ys


def _coincide(a: list, b: list) -> bool:
    """Whether two series would be drawn over each other (within 0.1%: less than a line's width)."""
    return all((x is None and y is None) or (x is not None and y is not None and math.isclose(x, y, rel_tol=1e-3))
               for x, y in zip(a, b, strict=True))


def _draw_metric_panel(ax, report: EvaluationReport, sweep: Sequence[SweepPoint], metric: str, title: str) -> None:
    _draw_variants(ax, sweep, metric)
    if metric == "pr_auc":
        base = sweep[0].variants["weighted"].pr_auc
        _draw_pr_auc_intervals(ax, sweep, base)
        if base is not None:
            ax.axhline(base * (1 - report.tolerance), color="0.5", linestyle=":",
                       label=f"F = 1 minus {report.tolerance:.0%}")
    rec = report.recommendation.factor
    if rec is not None:
        ax.axvline(rec, color="0.3", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("downsampling factor F")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)


def _draw_size_panel(ax, sweep: Sequence[SweepPoint]) -> None:
    fs = [s.factor for s in sweep]
    ax.plot(fs, [s.train_rows for s in sweep], marker="o", color="tab:purple", label="training rows")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("downsampling factor F")
    ax.set_ylabel("rows")
    ax.set_title("sample size: rows and MB as Delta", fontsize=10)
    twin = ax.twinx()
    twin.plot(fs, [s.sample_bytes / 1e6 for s in sweep], marker="s", color="tab:orange", label="MB as Delta")
    twin.set_yscale("log")
    twin.set_ylabel("MB")
    ax.legend(fontsize=7, loc="upper right")
    twin.legend(fontsize=7, loc="lower left")
    ax.grid(True, which="both", alpha=0.3)


def draw_sweep(report: EvaluationReport, path: Path) -> str:
    """The sweep against F: PR-AUC, log loss, training time and sample size per variant."""
    sweep = sorted(report.sweep, key=lambda s: s.factor)
    fig = _figure(10.0, 7.2)
    panels = [("pr_auc", "PR-AUC (test)"), ("log_loss", "log loss (test)"), ("train_seconds", TIME_TITLE)]
    for i, (metric, title) in enumerate(panels):
        ax = fig.add_subplot(2, 2, i + 1)
        _draw_metric_panel(ax, report, sweep, metric, title)
        if metric == "train_seconds":
            ax.set_ylabel("seconds (one run)")
        if i == 0:
            ax.legend(fontsize=7)
    _draw_size_panel(fig.add_subplot(2, 2, 4), sweep)
    rec = report.recommendation.factor
    fig.suptitle(
        f"{report.dataset}: {report.model} trained on the job's sample at each F, measured on"
        f" {report.test.rows:,} held-out rows" + (f" (recommended F = {rec:g})" if rec is not None else ""),
        fontsize=10,
    )
    return _save_png(fig, path)


def draw_class_counts(report: EvaluationReport, path: Path) -> str:
    """Class counts of the train slice before and after sampling at the configured F, with weighted totals."""
    factor = report.reliability_factor
    point = report.point(factor)
    before = report.train.classes
    keys = list(before)
    fig = _figure(7.0, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.27
    series = [
        ("before (train slice)", [before[k].count for k in keys], "0.6"),
        (f"kept at F = {factor:g}", [point.classes[k].count or 0 for k in keys], "tab:blue"),
        ("weighted total after", [point.classes[k].weight_sum for k in keys], "tab:green"),
    ]
    for i, (label, values, color) in enumerate(series):
        xs = [j + (i - 1) * width for j in range(len(keys))]
        bars = ax.bar(xs, values, width, label=label, color=color)
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=7, rotation=90, padding=2)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([f"{k} ({before[k].role})" for k in keys])
    ax.set_yscale("log")
    ax.set_ylabel("rows (log)")
    ax.set_xlabel(f"class of {report.label_column}")
    ax.set_title(f"{report.dataset}: train slice before and after sampling at F = {factor:g}", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi * 8)  # room above the bars for their labels and the legend
    return _save_png(fig, path)


def draw_evaluation_figures(report: EvaluationReport, out_dir: Path) -> dict[str, str]:
    """Every figure of an evaluation report, as PNGs in ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    figures = {
        "reliability": draw_reliability(report, out_dir / "reliability.png"),
        "sweep": draw_sweep(report, out_dir / "sweep.png"),
        "class_counts": draw_class_counts(report, out_dir / "class_counts.png"),
    }
    # only when the test slice is grouped by day or segment
    groups = draw_group_calibration(report, out_dir / "calibration_groups.png")
    return figures | ({"calibration_groups": groups} if groups else {})
