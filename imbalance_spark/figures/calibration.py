"""The calibration per test day and per segment value figure, drawn from the evaluation report.
"""

from __future__ import annotations

from pathlib import Path

from imbalance_spark.evaluate.report import EvaluationReport
from imbalance_spark.figures.common import _figure, _save_png

VARIANT = "weighted"


def _panels(report: EvaluationReport) -> list[tuple[str, list[str | None]]]:
    """One panel for the days (when there are any) and one per segment column, with their values in order."""
    first = report.sweep[0].variants[VARIANT]
    panels: list[tuple[str, list[str | None]]] = []
    if first.calibration_by_day is not None:
        panels.append(("day", [d.date for d in first.calibration_by_day]))
    for column, values in (first.calibration_by_segment or {}).items():
        panels.append((column, [v.value for v in values]))
    return panels


def _ratios(report: EvaluationReport, by: str) -> dict[float, dict[str | None, tuple[float, int]]]:
    """Per F, each day's or value's (mean p / observed rate, positives) of the weighted model."""
    out: dict[float, dict[str | None, tuple[float, int]]] = {}
    for s in report.sweep:
        groups = s.variants[VARIANT].calibration_groups()
        out[s.factor] = {value: (g.calibration_ratio, g.positives) for b, value, g in groups
                         if b == by and g.calibration_ratio is not None}
    return out


def _draw_panel(ax, report: EvaluationReport, by: str, values: list[str | None], enough: int) -> None:
    import matplotlib

    tol = report.calibration_tolerance
    ax.axhspan(1.0 - tol, 1.0 + tol, color="tab:green", alpha=0.12, label=f"1 ± {tol:.0%} (the band)")
    ax.axhline(1.0, color="0.4", linewidth=0.8)
    factors = [s.factor for s in report.sweep]
    colors = matplotlib.colormaps["viridis"]
    width = 0.35 / max(1, len(factors))  # the factors side by side around each day or value
    for i, (factor, by_value) in enumerate(_ratios(report, by).items()):
        color = colors(i / max(1, len(factors) - 1))
        labelled = False
        for told, face in ((True, color), (False, "none")):
            pts = [(j + (i - (len(factors) - 1) / 2) * width, by_value[v][0]) for j, v in enumerate(values)
                   if v in by_value and (by_value[v][1] >= enough) is told]
            if pts:
                ax.scatter(*zip(*pts, strict=True), s=28, marker="o", facecolors=face, edgecolors=color,
                           label=None if labelled else f"F = {factor:g}")
                labelled = True
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(["(null)" if v is None else str(v) for v in values], rotation=45 if len(values) > 6 else 0,
                       ha="right" if len(values) > 6 else "center", fontsize=7)
    ax.set_ylabel("mean p / observed rate")
    ax.set_title("per test day" if by == "day" else f"per value of {by}", fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)


def draw_group_calibration(report: EvaluationReport, path: Path) -> str | None:
    """The weighted model's mean p / observed rate per test day and segment value at each F, with the band."""
    panels = _panels(report)
    enough = report.recommendation.group_positives
    if not panels or enough is None:
        return None
    fig = _figure(10.0, 1.0 + 2.8 * len(panels))
    for k, (by, values) in enumerate(panels):
        ax = fig.add_subplot(len(panels), 1, k + 1)
        _draw_panel(ax, report, by, values, enough)
        if k == 0:
            ax.legend(fontsize=7, loc="upper left", ncol=4)
    fig.suptitle(
        f"{report.dataset}: {VARIANT} model's calibration on {report.test.rows:,} held-out rows, per day and segment"
        f" at each F\n(filled: at least {enough:,} positives, checked against the band; hollow: fewer, shown only)",
        fontsize=10,
    )
    return _save_png(fig, path)
