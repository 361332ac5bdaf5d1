"""Pictures of the class balance: what a run did to each class, and how the balance drifts over runs.

Every number drawn comes from the JSON document written beside the PNG; one function per figure.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# Degree bands of the minority share (plan.degree_of_imbalance): extreme < 1% <= moderate < 20%
# <= mild <= 40% < none.
DEGREE_BANDS = (("extreme", 0.0, 0.01), ("moderate", 0.01, 0.20), ("mild", 0.20, 0.40), ("none", 0.40, 1.0))
_BAND_COLORS = {"extreme": "#d62728", "moderate": "#ff7f0e", "mild": "#bcbd22", "none": "#2ca02c"}
RUN_FIGURE_SIZE = (11.0, 5.0)  # inches at DPI: 1100 x 500 pixels
DRIFT_FIGURE_SIZE = (11.0, 5.5)  # 1100 x 550 pixels
DPI = 100


def run_figure_path(report_path: str | os.PathLike[str]) -> Path:
    """Where the run picture of a JSON report goes: beside it, same name, ``.png``."""
    return Path(report_path).with_suffix(".png")


def _new_figure(size: tuple[float, float]):
    # Figure + its Agg canvas directly, not pyplot: no display, no global state between calls.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    # no bbox_inches="tight": the PNG keeps the size the figure was made with
    fig.savefig(tmp, format="png", dpi=DPI)
    os.replace(tmp, p)
    return p


def _count_label(n: float) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.4g}G"
    if n >= 1e6:
        return f"{n / 1e6:.4g}M"
    if n >= 1e4:
        return f"{n / 1e3:.4g}k"
    return f"{n:,.0f}" if float(n).is_integer() else f"{n:,.1f}"


def plot_run(report: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Per class: input vs output rows (log scale), and weighted output totals vs the input totals."""
    classes = list(report["classes"])
    inp = report["input"]["classes"]
    out = report["output"]["classes"]
    factors = report["factors"]
    weighted_source = report.get("weight_source_column") is not None
    in_rows = [inp[k]["count"] for k in classes]
    out_rows = [out[k]["count"] for k in classes]
    # With a source weight column the weights restore the input's weight totals, not its row counts.
    in_totals = [inp[k]["weight_sum"] if weighted_source else inp[k]["count"] for k in classes]
    out_totals = [out[k]["weight_sum"] for k in classes]
    minority = set(report["minority_classes"])
    names = [f"{k}\n{'minority' if k in minority else 'majority'}, F={factors[k]:g}" for k in classes]
    restored = [
        f"{k}\nweighted = {b / a:.2%} of input" if a else f"{k}\nno input"
        for k, a, b in zip(classes, in_totals, out_totals, strict=True)
    ]

    fig = _new_figure(RUN_FIGURE_SIZE)
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
        positive = [v for v in list(left) + list(right) if v > 0]
        if positive:
            ax.set_ylim(min(positive) / 3, max(positive) * 4)
        ax.set_xticks(list(x), ticks, fontsize=9)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(axis="y", which="major", alpha=0.3)
    rows_ax.set_ylabel("rows (log scale)")
    totals_ax.set_ylabel("total (log scale)")
    out_share = report["output"]["minority_share"]
    fig.suptitle(
        f"{report['dataset']}: {report['degree']} imbalance (minority share {report['minority_share']:.2%}"
        f" in, {out_share:.2%} out) - input vs output per class, {report['method']} seed {report['seed']}",
        fontsize=11,
    )
    return _save(fig, path)


def drift_series(rows: Iterable[Mapping[str, Any]], dataset: str) -> dict[str, Any]:
    """The drift document from history rows: per run date (its latest run), each class's share and factor.

    Runs whose factor of any class differs from the previous plotted run are listed as ``factor_changes``.
    """
    latest: dict[dt.date, tuple[Any, str]] = {}
    by_run: dict[str, dict[str, Mapping[str, Any]]] = {}
    for r in rows:
        if r["dataset"] != dataset:
            continue
        by_run.setdefault(r["run_id"], {})[r["class"]] = r
        day = r["run_date"]
        if day not in latest or r["recorded_at"] > latest[day][0]:
            latest[day] = (r["recorded_at"], r["run_id"])
    dates = sorted(latest)
    classes = sorted({c for d in dates for c in by_run[latest[d][1]]})
    runs = []
    for d in dates:
        run = by_run[latest[d][1]]
        first = next(iter(run.values()))
        runs.append(
            {
                "run_date": d.isoformat(),
                "run_end_date": first["run_end_date"].isoformat() if first.get("run_end_date") else d.isoformat(),
                "run_id": latest[d][1],
                "degree": first["degree"],
                "shares": {c: run[c]["share"] if c in run else None for c in classes},
                "factors": {c: run[c]["factor"] if c in run else None for c in classes},
            }
        )
    changes = []
    for prev, cur in zip(runs, runs[1:], strict=False):
        changed = {
            c: [prev["factors"][c], cur["factors"][c]]
            for c in classes
            if cur["factors"][c] is not None
            and prev["factors"][c] is not None
            and cur["factors"][c] != prev["factors"][c]
        }
        if changed:
            changes.append({"run_date": cur["run_date"], "run_id": cur["run_id"], "factors": changed})
    return {"dataset": dataset, "classes": classes, "runs": runs, "factor_changes": changes}


def plot_history(history_df, dataset: str, path: str | os.PathLike[str]) -> Path | None:
    """The drift picture of ``dataset`` from the history table, its numbers in a JSON beside it.

    None when the table holds no run of ``dataset``.
    """
    columns = ["dataset", "run_id", "run_date", "run_end_date", "class", "share", "degree", "factor", "recorded_at"]
    # The history table is itself an aggregate (one row per class per run): collecting it is cheap.
    rows = [r.asDict() for r in history_df.filter(history_df["dataset"] == dataset).select(*columns).collect()]
    if not rows:
        return None
    series = drift_series(rows, dataset)
    write_json(series, Path(path).with_suffix(".json"))
    return plot_class_drift(series, path)


def write_json(document: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a figure's JSON document (atomically)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(tmp, p)
    return p


def plot_class_drift(series: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Each class's share over the run dates (log scale) on the degree bands; factor changes marked."""
    import matplotlib.dates as mdates

    runs = series["runs"]
    dates = [dt.date.fromisoformat(r["run_date"]) for r in runs]
    fig = _new_figure(DRIFT_FIGURE_SIZE)
    ax = fig.subplots()
    shares = [s for r in runs for s in r["shares"].values() if s]
    low = min([0.005, *shares]) / 2
    for name, lo, hi in DEGREE_BANDS:
        ax.axhspan(max(lo, low), hi, color=_BAND_COLORS[name], alpha=0.10, lw=0)
        ax.text(1.005, math.sqrt(max(lo, low) * hi), name, transform=ax.get_yaxis_transform(),
                va="center", fontsize=8, color=_BAND_COLORS[name])
    marker = "o" if len(runs) <= 60 else None
    for cls in series["classes"]:
        ys = [r["shares"][cls] if r["shares"][cls] else math.nan for r in runs]
        ax.plot(dates, ys, marker=marker, markersize=4, lw=1.5, label=f"class {cls}")
    for change in series["factor_changes"]:
        day = dt.date.fromisoformat(change["run_date"])
        ax.axvline(day, color="black", ls="--", lw=0.8, alpha=0.7)
        text = ", ".join(f"{c}: {a:g}->{b:g}" for c, (a, b) in change["factors"].items())
        ax.annotate(f"F {text}", (day, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -12),
                    textcoords="offset points", fontsize=7, rotation=90, va="top")
    ax.set_yscale("log")
    ax.set_ylim(low, 1.0)
    ax.yaxis.set_major_formatter(_percent_formatter())
    if (dates[-1] - dates[0]).days < 7:
        # a few days: one tick per day, not hours
        ax.set_xlim(dates[0] - dt.timedelta(days=1), dates[-1] + dt.timedelta(days=1))
        ax.xaxis.set_major_locator(mdates.DayLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    else:
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_ylabel("share of the run's rows (log scale)\nbands: degree, by the minority share")
    ax.set_xlabel("run date")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    span = f"{dates[0]}" if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    ax.set_title(
        f"{series['dataset']}: class share per run date ({len(runs)} run date(s), {span})"
        f" against the degree bands; dashed: factor changed",
        fontsize=11,
    )
    return _save(fig, path)


def _percent_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:.2%}" if v < 0.01 else f"{v:.0%}")
