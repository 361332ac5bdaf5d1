"""Pictures drawn from the JSON reports beside them: a run, the class balance over runs, an evaluation.

Every number drawn comes from the JSON document written beside the PNG (never recomputed); one
function per figure, matplotlib's Agg canvas directly (no display).
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


# --- evaluate: the sweep over F ------------------------------------------------------------------

VARIANT_STYLE = {
    "weighted": ("weighted (weightCol)", "tab:blue", "o"),
    "unweighted": ("unweighted", "tab:red", "s"),
    "king_zeng": ("unweighted + King-Zeng ln(1/F)", "tab:green", "^"),
}


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return str(path)


def _sweep_point(report: dict[str, Any], factor: float) -> dict[str, Any]:
    return next(s for s in report["sweep"] if float(s["factor"]) == float(factor))


def draw_reliability(report: dict[str, Any], path: Path) -> str:
    """Reliability diagram at the configured F: predicted vs observed rate per equal-mass bin, log-log."""
    factor = report["reliability_factor"]
    point = _sweep_point(report, factor)
    fig = _figure(6.4, 5.6)
    ax = fig.add_subplot(1, 1, 1)
    lo, hi = 1.0, 0.0
    for name, (label, color, marker) in VARIANT_STYLE.items():
        v = point["variants"][name]
        bins = [b for b in v["calibration_bins"] if b["mean_prediction"] > 0 and b["observed_rate"] > 0]
        xs = [b["mean_prediction"] for b in bins]
        ys = [b["observed_rate"] for b in bins]
        if not xs:
            continue
        lo, hi = min(lo, *xs, *ys), max(hi, *xs, *ys)
        ax.plot(xs, ys, marker=marker, color=color, label=f"{label}: mean {v['calibration_ratio']:.2f}x base")
    if hi > lo:
        ax.plot([lo, hi], [lo, hi], color="0.5", linestyle="--", label="perfectly calibrated")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mean predicted probability (bin)")
    ax.set_ylabel("observed positive rate (bin)")
    test = report["test"]
    ax.set_title(
        f"{report['dataset']}: calibration at F = {factor:g} on {test['rows']:,} held-out rows\n"
        f"({report['bins']} equal-mass bins; base rate {test['base_rate']:.3%})",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(True, which="both", alpha=0.3)
    return _save_png(fig, path)


def _draw_pr_auc_intervals(ax, sweep: list[dict[str, Any]], base: float | None) -> None:
    """The weighted model's 95% interval of PR-AUC at each F, from the report's difference to F = 1."""
    if base is None:
        return
    fs, lows, highs = [], [], []
    for s in sweep:
        c = s["variants"]["weighted"].get("pr_auc_vs_f1")
        if c and c.get("half_width") and math.isfinite(c["half_width"]):
            fs.append(s["factor"])
            lows.append(base * (1 + c["low"]))
            highs.append(base * (1 + c["high"]))
    if fs:
        ax.vlines(fs, lows, highs, color=VARIANT_STYLE["weighted"][1], linewidth=2.5, alpha=0.35,
                  label="weighted: 95% interval (paired with F = 1)")


def draw_sweep(report: dict[str, Any], path: Path) -> str:
    """The sweep against F: PR-AUC, log loss, training time and sample size per variant."""
    sweep = sorted(report["sweep"], key=lambda s: s["factor"])
    fs = [s["factor"] for s in sweep]
    fig = _figure(10.0, 7.2)
    panels = [
        ("pr_auc", "PR-AUC (test)"),
        ("log_loss", "log loss (test)"),
        ("train_seconds", "training time (s)"),
    ]
    for i, (metric, title) in enumerate(panels):
        ax = fig.add_subplot(2, 2, i + 1)
        for name, (label, color, marker) in VARIANT_STYLE.items():
            ys = [s["variants"][name][metric] for s in sweep]
            if all(y is None for y in ys):
                continue
            ax.plot(fs, ys, marker=marker, color=color, label=label)
        if metric == "pr_auc":
            base = sweep[0]["variants"]["weighted"]["pr_auc"]
            _draw_pr_auc_intervals(ax, sweep, base)
            if base is not None:
                ax.axhline(base * (1 - report["tolerance"]), color="0.5", linestyle=":",
                           label=f"F = 1 minus {report['tolerance']:.0%}")
        rec = report["recommendation"]["factor"]
        if rec is not None:
            ax.axvline(rec, color="0.3", linestyle="--", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("downsampling factor F")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        if i == 0:
            ax.legend(fontsize=7)
    ax = fig.add_subplot(2, 2, 4)
    ax.plot(fs, [s["train_rows"] for s in sweep], marker="o", color="tab:purple", label="training rows")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("downsampling factor F")
    ax.set_ylabel("rows")
    ax.set_title("sample size: rows and MB as Delta", fontsize=10)
    twin = ax.twinx()
    twin.plot(fs, [s["sample_bytes"] / 1e6 for s in sweep], marker="s", color="tab:orange", label="MB as Delta")
    twin.set_yscale("log")
    twin.set_ylabel("MB")
    ax.legend(fontsize=7, loc="upper right")
    twin.legend(fontsize=7, loc="lower left")
    ax.grid(True, which="both", alpha=0.3)
    rec = report["recommendation"]["factor"]
    fig.suptitle(
        f"{report['dataset']}: {report['model']} trained on the job's sample at each F, measured on"
        f" {report['test']['rows']:,} held-out rows" + (f" (recommended F = {rec:g})" if rec is not None else ""),
        fontsize=10,
    )
    return _save_png(fig, path)


def draw_class_counts(report: dict[str, Any], path: Path) -> str:
    """Class counts of the train slice before and after sampling at the configured F, with weighted totals."""
    factor = report["reliability_factor"]
    point = _sweep_point(report, factor)
    before = report["train"]["classes"]
    keys = list(before)
    fig = _figure(7.0, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.27
    series = [
        ("before (train slice)", [before[k]["count"] for k in keys], "0.6"),
        (f"kept at F = {factor:g}", [point["classes"][k]["count"] or 0 for k in keys], "tab:blue"),
        ("weighted total after", [point["classes"][k]["weight_sum"] for k in keys], "tab:green"),
    ]
    for i, (label, values, color) in enumerate(series):
        xs = [j + (i - 1) * width for j in range(len(keys))]
        bars = ax.bar(xs, values, width, label=label, color=color)
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=7, rotation=90, padding=2)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([f"{k} ({before[k]['role']})" for k in keys])
    ax.set_yscale("log")
    ax.set_ylabel("rows (log)")
    ax.set_xlabel(f"class of {report['label_column']}")
    ax.set_title(f"{report['dataset']}: train slice before and after sampling at F = {factor:g}", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi * 8)  # room above the bars for their labels and the legend
    return _save_png(fig, path)


def draw_evaluation_figures(report: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """Every figure of an evaluation report, as PNGs in ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    return {
        "reliability": draw_reliability(report, out_dir / "reliability.png"),
        "sweep": draw_sweep(report, out_dir / "sweep.png"),
        "class_counts": draw_class_counts(report, out_dir / "class_counts.png"),
    }
