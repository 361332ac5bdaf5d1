"""The class balance over time, from the history table.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from imbalance_spark.figures.common import _new_figure, _percent_formatter, _save

# Degree bands of the minority share (plan.degree_of_imbalance): extreme < 1% <= moderate < 20%
# <= mild <= 40% < none.
DEGREE_BANDS = (("extreme", 0.0, 0.01), ("moderate", 0.01, 0.20), ("mild", 0.20, 0.40), ("none", 0.40, 1.0))


_BAND_COLORS = {"extreme": "#d62728", "moderate": "#ff7f0e", "mild": "#bcbd22", "none": "#2ca02c"}


DRIFT_FIGURE_SIZE = (11.0, 5.5)  # 1100 x 550 pixels


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
