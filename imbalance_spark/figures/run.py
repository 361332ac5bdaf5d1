"""The picture of one run: rows per class before and after, weighted totals.
"""

from __future__ import annotations

import os
from pathlib import Path

from imbalance_spark.figures.common import _count_label, _new_figure, _save
from imbalance_spark.report.models import RunReport

RUN_FIGURE_SIZE = (11.0, 5.0)  # inches at DPI: 1100 x 500 pixels
# Fixed margins (fractions of the figure) fitted to two-line class labels under the bars and the
# title above: a constrained layout found the same places at twice the drawing time (0.5 s -> 0.2 s).
RUN_MARGINS = {"left": 0.07, "right": 0.98, "bottom": 0.16, "top": 0.88, "wspace": 0.22}


def run_figure_path(report_path: str | os.PathLike[str]) -> Path:
    """Where the run picture of a JSON report goes: beside it, same name, ``.png`` (the resolved report path)."""
    return Path(report_path).with_suffix(".png")


def plot_run(report: RunReport, path: str | os.PathLike[str]) -> Path:
    """Per class: input vs output rows (log scale), and weighted output totals vs the input totals."""
    classes = list(report.classes)
    inp = report.input.classes
    out = report.output.classes
    factors = report.factors
    weighted_source = report.weight_source_column is not None
    in_rows = [inp[k].count for k in classes]
    out_rows = [out[k].count for k in classes]
    # With a source weight column the weights restore the input's weight totals, not its row counts.
    in_totals = [inp[k].weight_sum if weighted_source else inp[k].count for k in classes]
    out_totals = [out[k].weight_sum for k in classes]
    minority = set(report.minority_classes)
    names = [f"{k}\n{'minority' if k in minority else 'majority'}, F={factors[k]:g}" for k in classes]
    restored = [
        f"{k}\nweighted = {b / a:.2%} of input" if a else f"{k}\nno input"
        for k, a, b in zip(classes, in_totals, out_totals, strict=True)
    ]

    fig = _new_figure(RUN_FIGURE_SIZE, layout=None)
    fig.subplots_adjust(**RUN_MARGINS)
    rows_ax, totals_ax = fig.subplots(1, 2)
    x = range(len(classes))
    w = 0.38
    for ax, left, right, labels, ticks, title in (
        (rows_ax, in_rows, out_rows, ("input rows", "output rows"), names, "rows per class: input vs output"),
        (
            totals_ax,
            in_totals,
            out_totals,
            ("input weight total" if weighted_source else "input rows", "output weighted total"),
            restored,
            "weighted output totals vs input " + ("weight totals" if weighted_source else "rows"),
        ),
    ):
        bars_l = ax.bar([i - w / 2 for i in x], [max(v, 0) for v in left], w, label=labels[0], color="#7f7f7f")
        bars_r = ax.bar([i + w / 2 for i in x], [max(v, 0) for v in right], w, label=labels[1], color="#1f77b4")
        ax.bar_label(bars_l, [_count_label(v) for v in left], fontsize=8, padding=2)
        ax.bar_label(bars_r, [_count_label(v) for v in right], fontsize=8, padding=2)
        ax.set_yscale("log")
        ax.minorticks_off()  # the decades are labelled; the 2..9 ticks between cost most of the drawing
        positive = [v for v in list(left) + list(right) if v > 0]
        if positive:
            ax.set_ylim(min(positive) / 3, max(positive) * 4)
        ax.set_xticks(list(x), ticks, fontsize=9)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(axis="y", which="major", alpha=0.3)
    rows_ax.set_ylabel("rows (log scale)")
    totals_ax.set_ylabel("total (log scale)")
    out_share = report.output.minority_share
    fig.suptitle(
        f"{report.dataset}: {report.degree} imbalance (minority share {report.minority_share:.2%}"
        f" in, {out_share:.2%} out) - input vs output per class, {report.method} seed {report.seed}",
        fontsize=11,
    )
    return _save(fig, path)
